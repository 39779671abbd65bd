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
