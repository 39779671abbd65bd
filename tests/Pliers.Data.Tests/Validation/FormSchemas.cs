using Pliers.Data.Tests.Infrastructure;

namespace Pliers.Data.Tests.Validation;

/// <summary>Realistic form schemas with a valid document each, for the differential and trigger tests.</summary>
internal static class FormSchemas
{
    public static IReadOnlyList<(string Name, string Schema, string Valid)> All =>
    [
        ("bench", File.ReadAllText(Path.Combine(Conformance.Folder, "bench_schema.json")), File.ReadAllText(Path.Combine(Conformance.Folder, "bench_instance.json"))),
        ("contact",
            """
            {"type": "object", "required": ["name", "email"], "additionalProperties": false,
             "properties": {
               "name": {"type": "string", "minLength": 1, "maxLength": 100},
               "email": {"type": "string", "pattern": "^[^@\\s]+@[^@\\s]+$"},
               "age": {"type": "integer", "minimum": 0, "maximum": 150},
               "newsletter": {"type": "boolean"},
               "interests": {"type": "array", "items": {"enum": ["news", "offers", "events"]}, "uniqueItems": true, "maxItems": 3},
               "message": {"type": "string", "maxLength": 500},
               "rating": {"type": "number", "exclusiveMinimum": 0, "maximum": 5, "multipleOf": 0.5}
             }}
            """,
            """{"name": "Grace Hopper", "email": "grace@navy.mil", "age": 85, "newsletter": true, "interests": ["news", "events"], "message": "Hello", "rating": 4.5}"""),
        ("claim",
            """
            {"type": "object", "required": ["policy", "claimType", "incidents"],
             "properties": {
               "policy": {"type": "object", "required": ["number", "holder"], "additionalProperties": false,
                          "properties": {"number": {"type": "string", "pattern": "^P-[0-9]{6}$"},
                                         "holder": {"type": "object", "required": ["first", "last"],
                                                    "properties": {"first": {"type": "string", "minLength": 1}, "last": {"type": "string", "minLength": 1}}}}},
               "claimType": {"enum": ["vehicle", "home", "travel"]},
               "vehicle": {"type": "object", "required": ["plate"], "properties": {"plate": {"type": "string", "maxLength": 10}}},
               "incidents": {"type": "array", "minItems": 1, "maxItems": 5,
                             "items": {"type": "object", "required": ["date", "amount"],
                                       "properties": {"date": {"type": "string", "pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}$"},
                                                      "amount": {"type": "number", "exclusiveMinimum": 0, "multipleOf": 0.01},
                                                      "kind": {"enum": ["damage", "theft", "injury", null]}}}},
               "contact": {"oneOf": [{"type": "object", "required": ["phone"]}, {"type": "object", "required": ["email"]}]},
               "notes": {"type": ["string", "null"], "maxLength": 1000}
             },
             "if": {"properties": {"claimType": {"const": "vehicle"}}},
             "then": {"required": ["vehicle"]},
             "dependentRequired": {"notes": ["contact"]}}
            """,
            """{"policy": {"number": "P-123456", "holder": {"first": "Ada", "last": "Byron"}}, "claimType": "vehicle", "vehicle": {"plate": "AB-12-CD"}, "incidents": [{"date": "2026-01-02", "amount": 120.5, "kind": "damage"}, {"date": "2026-02-03", "amount": 80, "kind": null}], "contact": {"phone": "+44 1"}, "notes": null}"""),
        ("job-application",
            """
            {"type": "object", "required": ["fullName", "email", "position", "coverLetter"], "additionalProperties": false,
             "properties": {
               "fullName": {"type": "string", "minLength": 2, "maxLength": 80, "pattern": "^[\\p{L} '-]+$"},
               "email": {"type": "string", "maxLength": 254, "format": "email", "pattern": "^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$"},
               "phone": {"type": "string", "pattern": "^\\+?[0-9 ()-]{7,20}$"},
               "position": {"enum": ["engineer", "designer", "nurse", "driver"]},
               "coverLetter": {"type": "string", "minLength": 20, "maxLength": 2000, "pattern": "^[^<>]*$"},
               "yearsExperience": {"type": "integer", "minimum": 0, "maximum": 60},
               "languages": {"type": "array", "items": {"type": "string", "pattern": "^[a-z]{2}(-[A-Z]{2})?$"}, "uniqueItems": true, "maxItems": 10}
             }}
            """,
            """{"fullName": "Nguyễn Thị Minh Khai", "email": "minh.khai@example.vn", "phone": "+84 (28) 123-4567", "position": "engineer", "coverLetter": "Kính gửi,\nI would like to apply.\r\nRegards", "yearsExperience": 7, "languages": ["vi", "en-GB"]}"""),
        ("medical-intake",
            """
            {"type": "object", "required": ["patient", "symptoms"],
             "properties": {
               "patient": {"type": "object", "required": ["givenName", "familyName", "birthYear"], "additionalProperties": false,
                           "properties": {"givenName": {"type": "string", "pattern": "^\\p{Lu}[\\p{L}\\p{M}'-]*$", "maxLength": 40},
                                          "familyName": {"type": "string", "pattern": "^[\\p{L}\\p{M} '-]+$", "maxLength": 60},
                                          "birthYear": {"type": "integer", "minimum": 1900, "maximum": 2026},
                                          "insuranceId": {"type": "string", "pattern": "^[A-Z]\\d{9}$"}}},
               "symptoms": {"type": "array", "minItems": 1, "items": {"type": "object", "required": ["name", "since"],
                            "properties": {"name": {"type": "string", "minLength": 3, "maxLength": 100},
                                           "since": {"type": "string", "pattern": "^\\d{4}-\\d{2}-\\d{2}$"},
                                           "severity": {"type": "integer", "minimum": 1, "maximum": 10}}}},
               "allergies": {"type": ["string", "null"], "maxLength": 500},
               "notes": {"type": "string", "pattern": "^(?:[^\\n]*\\n){0,9}[^\\n]*$"}
             }}
            """,
            """{"patient": {"givenName": "Ørjan", "familyName": "Þórsdóttir-Müller", "birthYear": 1984, "insuranceId": "A123456789"}, "symptoms": [{"name": "Headache", "since": "2026-11-30", "severity": 4}], "allergies": null, "notes": "Line one\nLine two"}"""),
        ("survey",
            """
            {"type": "object", "required": ["respondent", "answers"],
             "properties": {
               "respondent": {"type": "string", "pattern": "^R-[0-9A-F]{8}$"},
               "answers": {"type": "object", "minProperties": 1, "maxProperties": 20,
                           "propertyNames": {"pattern": "^q[0-9]{1,2}$"},
                           "patternProperties": {"^q[0-9]+$": {"anyOf": [{"type": "integer", "minimum": 1, "maximum": 5}, {"type": "string", "maxLength": 280}]}},
                           "additionalProperties": false},
               "comment": {"type": "string", "maxLength": 140},
               "consent": {"const": true}
             }}
            """,
            """{"respondent": "R-00FF12AB", "answers": {"q1": 5, "q2": "Très bien 👍", "q10": 3}, "comment": "Sehr gut — danke!", "consent": true}"""),
        ("expense-claim",
            """
            {"type": "object", "required": ["employee", "currency", "lines"],
             "properties": {
               "employee": {"type": "string", "pattern": "^\\w{3,12}$"},
               "currency": {"enum": ["EUR", "USD", "VND", "JPY"]},
               "lines": {"type": "array", "minItems": 1, "maxItems": 20,
                         "items": {"type": "object", "required": ["description", "amount"], "additionalProperties": false,
                                   "properties": {"description": {"type": "string", "minLength": 3, "maxLength": 120, "pattern": "\\S"},
                                                  "amount": {"type": "number", "exclusiveMinimum": 0, "maximum": 100000},
                                                  "receipt": {"type": "string", "pattern": "^RCPT-\\d+$"}}}},
               "approver": {"type": "string", "pattern": "^[\\p{L}.]+@corp\\.example$"}
             }}
            """,
            """{"employee": "j_smith42", "currency": "EUR", "lines": [{"description": "Hôtel à Lyon", "amount": 189.9, "receipt": "RCPT-0042"}, {"description": "Taxi", "amount": 23}], "approver": "élodie.martin@corp.example"}"""),
        ("booking",
            """
            {"type": "object", "required": ["guest", "nights", "room"],
             "properties": {
               "guest": {"type": "string", "minLength": 2, "maxLength": 50, "pattern": "^[^\\d<>]+$"},
               "nights": {"type": "integer", "minimum": 1, "maximum": 30},
               "room": {"enum": ["single", "double", "suite"]},
               "arrival": {"type": "string", "pattern": "^(0[1-9]|1[0-2])/(0[1-9]|[12]\\d|3[01])$"},
               "requests": {"type": "string", "maxLength": 300},
               "code": {"type": "string", "pattern": "^\\bBK\\d{4}\\b$"}
             },
             "dependentRequired": {"code": ["arrival"]}}
            """,
            """{"guest": "Σωκράτης Παπαδόπουλος", "nights": 3, "room": "double", "arrival": "07/14", "requests": "Late check-in 🌙\nQuiet room", "code": "BK2026"}"""),
        ("profile",
            """
            {"type": "object", "required": ["displayName", "locale"],
             "properties": {
               "displayName": {"type": "string", "minLength": 1, "maxLength": 12},
               "legalName": {"type": "string", "pattern": "^[\\p{L}\\p{M}][\\p{L}\\p{M} .'-]*$"},
               "locale": {"type": "string", "pattern": "^[a-z]{2,3}(?:-[A-Z][a-z]{3})?(?:-[A-Z]{2})?$"},
               "bio": {"type": "string", "maxLength": 160, "pattern": "^(?!\\s)[\\s\\S]*$"},
               "handle": {"type": "string", "pattern": "^@[A-Za-z0-9_]{1,15}$"},
               "initials": {"type": "string", "pattern": "^\\p{Lu}{1,3}$"}
             }}
            """,
            """{"displayName": "ẞig Ệ 🙂", "legalName": "Thảo Nguyễn", "locale": "vi-VN", "bio": "Xin chào!\u2028Second line", "handle": "@thao_ng", "initials": "TN"}"""),
        ("support-ticket",
            """
            {"type": "object", "required": ["subject", "body", "priority"],
             "properties": {
               "subject": {"type": "string", "minLength": 5, "maxLength": 78, "pattern": "^[^\\r\\n]+$"},
               "body": {"type": "string", "minLength": 10, "maxLength": 5000},
               "priority": {"enum": ["low", "normal", "high"]},
               "tags": {"type": "array", "items": {"type": "string", "pattern": "^[\\p{Ll}\\p{Nd}-]{2,20}$"}, "maxItems": 5},
               "customer": {"type": "object", "properties": {"name": {"type": "string", "pattern": "^[\\p{L}\\p{Zs}'.-]+$"}, "ref": {"type": "string", "pattern": "^C\\d{3,}$"}}}
             }}
            """,
            """{"subject": "Không đăng nhập được", "body": "Xin chào,\n\nTôi không thể đăng nhập từ hôm qua.\nCảm ơn.", "priority": "high", "tags": ["login", "vi-vn", "2fa"], "customer": {"name": "Đặng Văn Lâm", "ref": "C0042"}}"""),
        ("event-signup",
            """
            {"type": "object", "required": ["email", "start", "ticket"],
             "properties": {
               "email": {"type": "string", "format": "email"},
               "website": {"type": "string", "format": "uri"},
               "logo": {"format": "uri-reference"},
               "start": {"type": "string", "format": "date-time"},
               "day": {"type": "string", "format": "date"},
               "doorsOpen": {"type": "string", "format": "time"},
               "length": {"type": "string", "format": "duration"},
               "venueHost": {"type": "string", "format": "hostname"},
               "ip": {"format": "ipv4"},
               "ip6": {"type": "string", "format": "ipv6"},
               "ticket": {"type": "string", "format": "uuid"},
               "field": {"type": "string", "format": "json-pointer"},
               "badge": {"type": "string", "format": "color"},
               "days": {"type": "array", "items": {"type": "string", "format": "date"}, "maxItems": 3},
               "reachable": {"anyOf": [{"format": "ipv4"}, {"format": "ipv6"}]}
             }}
            """,
            """{"email": "thao@example.vn", "website": "https://xn--bcher-kva.example/kurs?x=1#a", "logo": "../img/logo.png", "start": "2026-12-31T23:59:60Z", "day": "2024-02-29", "doorsOpen": "18:30:00+07:00", "length": "PT2H30M", "venueHost": "xn--bcher-kva.example", "ip": "192.168.0.1", "ip6": "2001:db8::8a2e:370:7334", "ticket": "2eb8aa08-aa98-11ea-b4aa-73b441d16380", "field": "/guests/0/email", "badge": "not a colour", "days": ["2026-12-30", "2026-12-31"], "reachable": "::1"}"""),
        ("guest-list",
            """
            {"type": "object", "required": ["guests"],
             "properties": {
               "guests": {"type": "array", "maxItems": 5, "items": {"type": "object", "required": ["email"],
                          "properties": {"email": {"type": "string", "format": "email"}, "arrives": {"format": "date-time"}, "host": {"format": "hostname"}}}},
               "contact": {"anyOf": [{"format": "email"}, {"format": "hostname"}, {"format": "ipv6"}]},
               "at": {"not": {"format": "time"}}
             }}
            """,
            """{"guests": [{"email": "ada@example.com", "arrives": "2026-12-31T15:59:60-08:00", "host": "xn--bcher-kva.example"}, {"email": "\"Grace H\"@[IPv6:::1]"}], "contact": "grace@navy.mil", "at": "noon"}"""),
        ("registration",
            """
            {"$defs": {"person": {"type": "object", "required": ["name"], "properties": {"name": {"type": "string", "minLength": 2}, "guest": {"$ref": "#/$defs/person"}}}},
             "type": "object", "required": ["attendee", "sessions"],
             "properties": {
               "attendee": {"$ref": "#/$defs/person"},
               "sessions": {"type": "array", "items": {"type": "integer", "minimum": 1}, "uniqueItems": true, "minItems": 1},
               "dietary": {"type": "string", "enum": ["none", "vegetarian", "vegan"]}
             },
             "unevaluatedProperties": false}
            """,
            """{"attendee": {"name": "Linus", "guest": {"name": "Tove"}}, "sessions": [1, 2, 5], "dietary": "vegan"}"""),
    ];
}
