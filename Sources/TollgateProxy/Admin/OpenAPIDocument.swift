/// The OpenAPI 3.1 description of the admin API, served at `GET /admin/openapi.json`: every route of
/// ``AdminRoute/all`` with its parameters, request body and responses, the records' schemas and the bearer scheme.
///
/// Kept here as the document itself, so that it reads as the contract it is. AdminAPITests parses it and checks that
/// it describes exactly the routes the router serves, with their query parameters and body fields, and that every
/// reference resolves: a route added to one and not the other fails the tests.
enum OpenAPIDocument {
    /// The document, as served.
    static let json = #"""
        {
          "openapi": "3.1.0",
          "info": {
            "title": "Tollgate admin API",
            "version": "1",
            "description": "Customers, teams, keys, credits, limits and alerts of a Tollgate meter (docs/ADMIN-API.md)."
          },
          "servers": [{"url": "http://127.0.0.1:8788"}],
          "security": [{"bearerAuth": []}],
          "tags": [
            {"name": "service"},
            {"name": "customers"},
            {"name": "teams"},
            {"name": "keys"},
            {"name": "credits"},
            {"name": "limits"}
          ],
          "paths": {
            "/admin/healthz": {
              "get": {
                "operationId": "health",
                "summary": "Health check (no token needed)",
                "tags": ["service"],
                "responses": {
                  "200": {
                    "description": "The admin listener is up.",
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Health"}}}
                  }
                },
                "security": []
              }
            },
            "/admin/openapi.json": {
              "get": {
                "operationId": "openAPI",
                "summary": "This document",
                "tags": ["service"],
                "responses": {
                  "200": {
                    "description": "The OpenAPI 3.1 document.",
                    "content": {"application/json": {"schema": {"type": "object"}}}
                  },
                  "401": {"$ref": "#/components/responses/Unauthorized"}
                }
              }
            },
            "/admin/v1/customers": {
              "get": {
                "operationId": "listCustomers",
                "summary": "List customers",
                "tags": ["customers"],
                "responses": {
                  "200": {
                    "description": "Every customer, by id.",
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/CustomerList"}}}
                  },
                  "401": {"$ref": "#/components/responses/Unauthorized"}
                }
              },
              "post": {
                "operationId": "createCustomer",
                "summary": "Create a customer",
                "tags": ["customers"],
                "requestBody": {
                  "required": true,
                  "content": {"application/json": {"schema": {"$ref": "#/components/schemas/CustomerCreate"}}}
                },
                "responses": {
                  "201": {
                    "description": "Created.",
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Customer"}}}
                  },
                  "400": {"$ref": "#/components/responses/BadRequest"},
                  "401": {"$ref": "#/components/responses/Unauthorized"},
                  "404": {"$ref": "#/components/responses/NotFound"},
                  "409": {"$ref": "#/components/responses/Conflict"},
                  "413": {"$ref": "#/components/responses/TooLarge"}
                }
              }
            },
            "/admin/v1/customers/{id}": {
              "get": {
                "operationId": "getCustomer",
                "summary": "A customer with its balance, limits and keys",
                "tags": ["customers"],
                "parameters": [{"$ref": "#/components/parameters/CustomerId"}],
                "responses": {
                  "200": {
                    "description": "The customer; its balance is its team's pool when it is in a team.",
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/CustomerDetail"}}}
                  },
                  "401": {"$ref": "#/components/responses/Unauthorized"},
                  "404": {"$ref": "#/components/responses/NotFound"}
                }
              },
              "patch": {
                "operationId": "updateCustomer",
                "summary": "Change a customer's name, team or models",
                "tags": ["customers"],
                "description": "Absent fields stay as they are. Joining a team is refused (409) while the customer holds grants of its own.",
                "parameters": [{"$ref": "#/components/parameters/CustomerId"}],
                "requestBody": {
                  "required": true,
                  "content": {"application/json": {"schema": {"$ref": "#/components/schemas/CustomerUpdate"}}}
                },
                "responses": {
                  "200": {
                    "description": "The customer as changed.",
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Customer"}}}
                  },
                  "400": {"$ref": "#/components/responses/BadRequest"},
                  "401": {"$ref": "#/components/responses/Unauthorized"},
                  "404": {"$ref": "#/components/responses/NotFound"},
                  "409": {"$ref": "#/components/responses/Conflict"},
                  "413": {"$ref": "#/components/responses/TooLarge"}
                }
              }
            },
            "/admin/v1/teams": {
              "get": {
                "operationId": "listTeams",
                "summary": "List teams",
                "tags": ["teams"],
                "responses": {
                  "200": {
                    "description": "Every team with its members.",
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/TeamList"}}}
                  },
                  "401": {"$ref": "#/components/responses/Unauthorized"}
                }
              },
              "post": {
                "operationId": "createTeam",
                "summary": "Create a team",
                "tags": ["teams"],
                "requestBody": {
                  "required": true,
                  "content": {"application/json": {"schema": {"$ref": "#/components/schemas/TeamCreate"}}}
                },
                "responses": {
                  "201": {
                    "description": "Created.",
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Team"}}}
                  },
                  "400": {"$ref": "#/components/responses/BadRequest"},
                  "401": {"$ref": "#/components/responses/Unauthorized"},
                  "409": {"$ref": "#/components/responses/Conflict"},
                  "413": {"$ref": "#/components/responses/TooLarge"}
                }
              }
            },
            "/admin/v1/teams/{id}": {
              "get": {
                "operationId": "getTeam",
                "summary": "A team with its balance and limits",
                "tags": ["teams"],
                "parameters": [{"$ref": "#/components/parameters/TeamId"}],
                "responses": {
                  "200": {
                    "description": "The team.",
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/TeamDetail"}}}
                  },
                  "401": {"$ref": "#/components/responses/Unauthorized"},
                  "404": {"$ref": "#/components/responses/NotFound"}
                }
              },
              "patch": {
                "operationId": "updateTeam",
                "summary": "Rename a team",
                "tags": ["teams"],
                "parameters": [{"$ref": "#/components/parameters/TeamId"}],
                "requestBody": {
                  "required": true,
                  "content": {"application/json": {"schema": {"$ref": "#/components/schemas/TeamUpdate"}}}
                },
                "responses": {
                  "200": {
                    "description": "The team as changed.",
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Team"}}}
                  },
                  "400": {"$ref": "#/components/responses/BadRequest"},
                  "401": {"$ref": "#/components/responses/Unauthorized"},
                  "404": {"$ref": "#/components/responses/NotFound"},
                  "413": {"$ref": "#/components/responses/TooLarge"}
                }
              }
            },
            "/admin/v1/customers/{id}/grants": {
              "get": {
                "operationId": "listCustomerGrants",
                "summary": "The grants of a customer's credit account",
                "tags": ["credits"],
                "parameters": [{"$ref": "#/components/parameters/CustomerId"}],
                "responses": {
                  "200": {
                    "description": "The grants, in spending order (for a customer in a team: the team's pool).",
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/GrantList"}}}
                  },
                  "401": {"$ref": "#/components/responses/Unauthorized"},
                  "404": {"$ref": "#/components/responses/NotFound"}
                }
              },
              "post": {
                "operationId": "grantCustomerCredits",
                "summary": "Grant credits to a customer",
                "tags": ["credits"],
                "description": "Refused (409) for a customer in a team: grant to the team's pool. Give amount or credits.",
                "parameters": [{"$ref": "#/components/parameters/CustomerId"}],
                "requestBody": {
                  "required": true,
                  "content": {"application/json": {"schema": {"$ref": "#/components/schemas/GrantCreate"}}}
                },
                "responses": {
                  "201": {
                    "description": "The grant.",
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Grant"}}}
                  },
                  "400": {"$ref": "#/components/responses/BadRequest"},
                  "401": {"$ref": "#/components/responses/Unauthorized"},
                  "404": {"$ref": "#/components/responses/NotFound"},
                  "409": {"$ref": "#/components/responses/Conflict"},
                  "413": {"$ref": "#/components/responses/TooLarge"}
                }
              }
            },
            "/admin/v1/customers/{id}/balance": {
              "get": {
                "operationId": "getCustomerBalance",
                "summary": "The balance of a customer's credit account",
                "tags": ["credits"],
                "parameters": [{"$ref": "#/components/parameters/CustomerId"}],
                "responses": {
                  "200": {
                    "description": "The balance now (for a customer in a team: the team's pool).",
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Balance"}}}
                  },
                  "401": {"$ref": "#/components/responses/Unauthorized"},
                  "404": {"$ref": "#/components/responses/NotFound"}
                }
              }
            },
            "/admin/v1/customers/{id}/ledger": {
              "get": {
                "operationId": "getCustomerLedger",
                "summary": "The ledger of a customer's credit account",
                "tags": ["credits"],
                "parameters": [
                  {"$ref": "#/components/parameters/CustomerId"},
                  {
                    "name": "limit",
                    "in": "query",
                    "required": false,
                    "schema": {"type": "integer", "minimum": 1, "maximum": 10000, "default": 100},
                    "description": "How many of the last entries."
                  }
                ],
                "responses": {
                  "200": {
                    "description": "The last entries, oldest first (for a customer in a team: the team's pool).",
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/LedgerPage"}}}
                  },
                  "400": {"$ref": "#/components/responses/BadRequest"},
                  "401": {"$ref": "#/components/responses/Unauthorized"},
                  "404": {"$ref": "#/components/responses/NotFound"}
                }
              }
            },
            "/admin/v1/teams/{id}/grants": {
              "get": {
                "operationId": "listTeamGrants",
                "summary": "The grants of a team's credit account",
                "tags": ["credits"],
                "parameters": [{"$ref": "#/components/parameters/TeamId"}],
                "responses": {
                  "200": {
                    "description": "The grants, in spending order.",
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/GrantList"}}}
                  },
                  "401": {"$ref": "#/components/responses/Unauthorized"},
                  "404": {"$ref": "#/components/responses/NotFound"}
                }
              },
              "post": {
                "operationId": "grantTeamCredits",
                "summary": "Grant credits to a team",
                "tags": ["credits"],
                "description": "Give amount or credits.",
                "parameters": [{"$ref": "#/components/parameters/TeamId"}],
                "requestBody": {
                  "required": true,
                  "content": {"application/json": {"schema": {"$ref": "#/components/schemas/GrantCreate"}}}
                },
                "responses": {
                  "201": {
                    "description": "The grant.",
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Grant"}}}
                  },
                  "400": {"$ref": "#/components/responses/BadRequest"},
                  "401": {"$ref": "#/components/responses/Unauthorized"},
                  "404": {"$ref": "#/components/responses/NotFound"},
                  "409": {"$ref": "#/components/responses/Conflict"},
                  "413": {"$ref": "#/components/responses/TooLarge"}
                }
              }
            },
            "/admin/v1/teams/{id}/balance": {
              "get": {
                "operationId": "getTeamBalance",
                "summary": "The balance of a team's credit account",
                "tags": ["credits"],
                "parameters": [{"$ref": "#/components/parameters/TeamId"}],
                "responses": {
                  "200": {
                    "description": "The balance now.",
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Balance"}}}
                  },
                  "401": {"$ref": "#/components/responses/Unauthorized"},
                  "404": {"$ref": "#/components/responses/NotFound"}
                }
              }
            },
            "/admin/v1/teams/{id}/ledger": {
              "get": {
                "operationId": "getTeamLedger",
                "summary": "The ledger of a team's credit account",
                "tags": ["credits"],
                "parameters": [
                  {"$ref": "#/components/parameters/TeamId"},
                  {
                    "name": "limit",
                    "in": "query",
                    "required": false,
                    "schema": {"type": "integer", "minimum": 1, "maximum": 10000, "default": 100},
                    "description": "How many of the last entries."
                  }
                ],
                "responses": {
                  "200": {
                    "description": "The last entries, oldest first.",
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/LedgerPage"}}}
                  },
                  "400": {"$ref": "#/components/responses/BadRequest"},
                  "401": {"$ref": "#/components/responses/Unauthorized"},
                  "404": {"$ref": "#/components/responses/NotFound"}
                }
              }
            },
            "/admin/v1/grants/{id}/void": {
              "post": {
                "operationId": "voidGrant",
                "summary": "Void what is left of a grant",
                "tags": ["credits"],
                "parameters": [{"$ref": "#/components/parameters/GrantId"}],
                "requestBody": {
                  "required": true,
                  "content": {"application/json": {"schema": {"$ref": "#/components/schemas/GrantVoid"}}}
                },
                "responses": {
                  "200": {
                    "description": "Voided: what was left is a `void` ledger line.",
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/VoidedGrant"}}}
                  },
                  "400": {"$ref": "#/components/responses/BadRequest"},
                  "401": {"$ref": "#/components/responses/Unauthorized"},
                  "404": {"$ref": "#/components/responses/NotFound"},
                  "409": {"$ref": "#/components/responses/Conflict"},
                  "413": {"$ref": "#/components/responses/TooLarge"}
                }
              }
            },
            "/admin/v1/keys": {
              "get": {
                "operationId": "listKeys",
                "summary": "List virtual keys",
                "tags": ["keys"],
                "parameters": [
                  {
                    "name": "customer",
                    "in": "query",
                    "required": false,
                    "schema": {"type": "string"},
                    "description": "Only this customer's keys."
                  }
                ],
                "responses": {
                  "200": {
                    "description": "Keys, oldest first (never their secrets).",
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/KeyList"}}}
                  },
                  "400": {"$ref": "#/components/responses/BadRequest"},
                  "401": {"$ref": "#/components/responses/Unauthorized"}
                }
              },
              "post": {
                "operationId": "createKey",
                "summary": "Create a virtual key",
                "tags": ["keys"],
                "requestBody": {
                  "required": true,
                  "content": {"application/json": {"schema": {"$ref": "#/components/schemas/KeyCreate"}}}
                },
                "responses": {
                  "201": {
                    "description": "The key with its secret, shown this once.",
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/CreatedKey"}}}
                  },
                  "400": {"$ref": "#/components/responses/BadRequest"},
                  "401": {"$ref": "#/components/responses/Unauthorized"},
                  "404": {"$ref": "#/components/responses/NotFound"},
                  "413": {"$ref": "#/components/responses/TooLarge"}
                }
              }
            },
            "/admin/v1/keys/{id}": {
              "delete": {
                "operationId": "revokeKey",
                "summary": "Revoke a key",
                "tags": ["keys"],
                "parameters": [{"$ref": "#/components/parameters/KeyId"}],
                "responses": {
                  "200": {
                    "description": "The revoked key; requests with it are refused from now on.",
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Key"}}}
                  },
                  "401": {"$ref": "#/components/responses/Unauthorized"},
                  "404": {"$ref": "#/components/responses/NotFound"},
                  "409": {"$ref": "#/components/responses/Conflict"}
                }
              }
            },
            "/admin/v1/limits": {
              "get": {
                "operationId": "listLimits",
                "summary": "List limits with their current status",
                "tags": ["limits"],
                "parameters": [
                  {
                    "name": "scope",
                    "in": "query",
                    "required": false,
                    "schema": {"type": "string", "enum": ["customer", "team", "key"]},
                    "description": "Only limits of this scope."
                  },
                  {
                    "name": "scope_id",
                    "in": "query",
                    "required": false,
                    "schema": {"type": "string"},
                    "description": "Only limits of this customer, team or key."
                  }
                ],
                "responses": {
                  "200": {
                    "description": "Limits with what they used and hold in the current period.",
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/LimitList"}}}
                  },
                  "400": {"$ref": "#/components/responses/BadRequest"},
                  "401": {"$ref": "#/components/responses/Unauthorized"}
                }
              },
              "post": {
                "operationId": "createLimit",
                "summary": "Add a cap, soft limit or rate limit",
                "tags": ["limits"],
                "requestBody": {
                  "required": true,
                  "content": {"application/json": {"schema": {"$ref": "#/components/schemas/LimitCreate"}}}
                },
                "responses": {
                  "201": {
                    "description": "The limit with its status.",
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/LimitStatus"}}}
                  },
                  "400": {"$ref": "#/components/responses/BadRequest"},
                  "401": {"$ref": "#/components/responses/Unauthorized"},
                  "404": {"$ref": "#/components/responses/NotFound"},
                  "413": {"$ref": "#/components/responses/TooLarge"}
                }
              }
            },
            "/admin/v1/limits/{id}": {
              "delete": {
                "operationId": "removeLimit",
                "summary": "Remove a limit",
                "tags": ["limits"],
                "parameters": [{"$ref": "#/components/parameters/LimitId"}],
                "responses": {
                  "200": {
                    "description": "The limit removed (its alerts stay).",
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Limit"}}}
                  },
                  "401": {"$ref": "#/components/responses/Unauthorized"},
                  "404": {"$ref": "#/components/responses/NotFound"}
                }
              }
            },
            "/admin/v1/alerts": {
              "get": {
                "operationId": "listAlerts",
                "summary": "Threshold alerts, newest first",
                "tags": ["limits"],
                "parameters": [
                  {
                    "name": "pending",
                    "in": "query",
                    "required": false,
                    "schema": {"type": "boolean", "default": false},
                    "description": "Only alerts not delivered yet."
                  },
                  {
                    "name": "limit",
                    "in": "query",
                    "required": false,
                    "schema": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 100},
                    "description": "How many."
                  }
                ],
                "responses": {
                  "200": {
                    "description": "Alerts and their webhook delivery.",
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/AlertList"}}}
                  },
                  "400": {"$ref": "#/components/responses/BadRequest"},
                  "401": {"$ref": "#/components/responses/Unauthorized"}
                }
              }
            }
          },
          "components": {
            "securitySchemes": {
              "bearerAuth": {
                "type": "http",
                "scheme": "bearer",
                "description": "The admin token (admin.token or admin.token_env)."
              }
            },
            "parameters": {
              "CustomerId": {
                "name": "id",
                "in": "path",
                "required": true,
                "schema": {"type": "string"},
                "description": "The customer id."
              },
              "TeamId": {
                "name": "id",
                "in": "path",
                "required": true,
                "schema": {"type": "string"},
                "description": "The team id."
              },
              "KeyId": {
                "name": "id",
                "in": "path",
                "required": true,
                "schema": {"type": "string"},
                "description": "The key id."
              },
              "GrantId": {
                "name": "id",
                "in": "path",
                "required": true,
                "schema": {"type": "string"},
                "description": "The grant id."
              },
              "LimitId": {
                "name": "id",
                "in": "path",
                "required": true,
                "schema": {"type": "string"},
                "description": "The limit id."
              }
            },
            "responses": {
              "BadRequest": {
                "description": "Bad input: the message and `field` say which field and why.",
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
              },
              "Unauthorized": {
                "description": "Missing or wrong admin token.",
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
              },
              "NotFound": {
                "description": "No such customer, team, key, grant or limit.",
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
              },
              "Conflict": {
                "description": "The change conflicts with the meter's state (it exists, it is already revoked or voided, …).",
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
              },
              "TooLarge": {
                "description": "The body is larger than 1 MiB.",
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
              }
            },
            "schemas": {
              "Decimal": {
                "type": "string",
                "pattern": "^-?[0-9]+(\\.[0-9]+)?$",
                "description": "An exact decimal number, written as a string (never a JSON number).",
                "examples": ["25.00"]
              },
              "Error": {
                "type": "object",
                "properties": {
                  "error": {
                    "type": "object",
                    "properties": {
                      "message": {"type": "string", "description": "What went wrong and what to do about it."},
                      "code": {
                        "type": "string",
                        "description": "Machine-readable reason.",
                        "enum": [
                          "invalid_json",
                          "invalid_field",
                          "missing_field",
                          "unknown_field",
                          "unauthorized",
                          "not_found",
                          "method_not_allowed",
                          "conflict",
                          "body_too_large",
                          "meter_error",
                          "internal_error"
                        ]
                      },
                      "field": {
                        "type": "string",
                        "description": "The body member or query parameter the error is about, when there is one."
                      }
                    },
                    "required": ["message", "code"]
                  }
                },
                "required": ["error"]
              },
              "Health": {"type": "object", "properties": {"status": {"type": "string", "const": "ok"}}, "required": ["status"]},
              "Customer": {
                "type": "object",
                "properties": {
                  "id": {"type": "string"},
                  "name": {"type": "string"},
                  "team": {"type": "string", "description": "The team whose credit pool the customer draws from."},
                  "models": {
                    "type": "array",
                    "items": {"type": "string"},
                    "description": "Model patterns the plan includes (glob, `*`); absent: every model."
                  },
                  "created": {"type": "string", "format": "date-time"}
                },
                "required": ["id", "created"]
              },
              "Team": {
                "type": "object",
                "properties": {
                  "id": {"type": "string"},
                  "name": {"type": "string"},
                  "created": {"type": "string", "format": "date-time"},
                  "customers": {"type": "array", "items": {"type": "string"}, "description": "Its members' ids."}
                },
                "required": ["id", "created", "customers"]
              },
              "Key": {
                "type": "object",
                "properties": {
                  "id": {"type": "string", "description": "`key_…`"},
                  "customer": {"type": "string"},
                  "prefix": {"type": "string", "description": "The first characters of the secret."},
                  "name": {"type": "string"},
                  "created": {"type": "string", "format": "date-time"},
                  "revoked": {"type": "string", "format": "date-time"}
                },
                "required": ["id", "customer", "prefix", "created"]
              },
              "CreatedKey": {
                "allOf": [
                  {"$ref": "#/components/schemas/Key"},
                  {
                    "type": "object",
                    "properties": {
                      "secret": {"type": "string", "description": "The virtual key (`tg_…`); shown this once, never stored."}
                    },
                    "required": ["secret"]
                  }
                ]
              },
              "Grant": {
                "type": "object",
                "properties": {
                  "id": {"type": "string", "description": "`grant_…`"},
                  "account": {"type": "string", "description": "`customer:ID` or `team:ID`."},
                  "amount": {"$ref": "#/components/schemas/Decimal"},
                  "remaining": {"$ref": "#/components/schemas/Decimal"},
                  "currency": {"type": "string"},
                  "unit_name": {"type": "string", "description": "The credit unit it was granted in, if any."},
                  "unit_amount": {"type": "string", "description": "The number of credit units granted."},
                  "priority": {"type": "integer", "description": "Lower is spent first."},
                  "effective": {"type": "string", "format": "date-time"},
                  "expires": {"type": "string", "format": "date-time"},
                  "created": {"type": "string", "format": "date-time"},
                  "note": {"type": "string"},
                  "closed": {"type": "string", "format": "date-time"},
                  "closed_reason": {"type": "string", "enum": ["expired", "voided"]}
                },
                "required": ["id", "account", "amount", "remaining", "currency", "priority", "effective", "created"]
              },
              "GrantList": {
                "type": "object",
                "properties": {
                  "account": {"type": "string"},
                  "grants": {"type": "array", "items": {"$ref": "#/components/schemas/Grant"}}
                },
                "required": ["account", "grants"]
              },
              "VoidedGrant": {
                "type": "object",
                "properties": {"id": {"type": "string"}, "closed_reason": {"type": "string", "const": "voided"}},
                "required": ["id", "closed_reason"]
              },
              "Balance": {
                "type": "object",
                "properties": {
                  "account": {"type": "string"},
                  "currency": {"type": "string"},
                  "granted": {"$ref": "#/components/schemas/Decimal"},
                  "spent": {"$ref": "#/components/schemas/Decimal"},
                  "expired": {"$ref": "#/components/schemas/Decimal"},
                  "reserved": {"$ref": "#/components/schemas/Decimal"},
                  "available": {"$ref": "#/components/schemas/Decimal"},
                  "upcoming": {"$ref": "#/components/schemas/Decimal"},
                  "overdraft": {"$ref": "#/components/schemas/Decimal"},
                  "grants": {
                    "type": "array",
                    "items": {"$ref": "#/components/schemas/Grant"},
                    "description": "In spending order."
                  }
                },
                "required": [
                  "account",
                  "currency",
                  "granted",
                  "spent",
                  "expired",
                  "reserved",
                  "available",
                  "upcoming",
                  "overdraft",
                  "grants"
                ],
                "description": "available = granted − spent − expired − reserved; upcoming: grants not in effect yet."
              },
              "LedgerEntry": {
                "type": "object",
                "properties": {
                  "seq": {"type": "integer"},
                  "ts": {"type": "string", "format": "date-time"},
                  "account": {"type": "string"},
                  "kind": {"type": "string", "enum": ["grant", "spend", "expire", "void", "reserve", "release"]},
                  "amount": {"$ref": "#/components/schemas/Decimal"},
                  "grant_id": {"type": "string"},
                  "reservation_id": {"type": "string"},
                  "event_id": {"type": "string"},
                  "customer": {"type": "string"},
                  "key_id": {"type": "string"},
                  "note": {"type": "string"}
                },
                "required": ["seq", "ts", "account", "kind", "amount"]
              },
              "LedgerPage": {
                "type": "object",
                "properties": {
                  "account": {"type": "string"},
                  "entries": {"type": "array", "items": {"$ref": "#/components/schemas/LedgerEntry"}}
                },
                "required": ["account", "entries"]
              },
              "Limit": {
                "type": "object",
                "properties": {
                  "id": {"type": "string", "description": "`lim_…`"},
                  "scope": {"type": "string", "enum": ["customer", "team", "key"]},
                  "scope_id": {"type": "string"},
                  "metric": {"type": "string", "enum": ["money", "tokens", "requests"]},
                  "period": {"type": "string", "enum": ["minute", "day", "week", "month", "total"]},
                  "anchor": {
                    "type": "string",
                    "format": "date-time",
                    "description": "Anniversary periods start here; absent: calendar periods (UTC)."
                  },
                  "amount": {"$ref": "#/components/schemas/Decimal"},
                  "enforcement": {"type": "string", "enum": ["hard", "soft"]},
                  "thresholds": {"type": "array", "items": {"type": "integer"}},
                  "created": {"type": "string", "format": "date-time"},
                  "note": {"type": "string"}
                },
                "required": ["id", "scope", "scope_id", "metric", "period", "amount", "enforcement", "thresholds", "created"]
              },
              "LimitStatus": {
                "type": "object",
                "properties": {
                  "limit": {"$ref": "#/components/schemas/Limit"},
                  "period_start": {"type": "string", "format": "date-time"},
                  "period_end": {"type": "string", "format": "date-time"},
                  "used": {"$ref": "#/components/schemas/Decimal"},
                  "reserved": {"$ref": "#/components/schemas/Decimal"},
                  "remaining": {"$ref": "#/components/schemas/Decimal"}
                },
                "required": ["limit", "period_start", "used", "reserved", "remaining"],
                "description": "A limit in its current period (per-minute rate limits show zero: their buckets live in memory)."
              },
              "Alert": {
                "type": "object",
                "properties": {
                  "id": {"type": "string", "description": "`alr_…`"},
                  "limit_id": {"type": "string"},
                  "period_start": {"type": "string", "format": "date-time"},
                  "threshold": {"type": "integer"},
                  "scope": {"type": "string"},
                  "scope_id": {"type": "string"},
                  "metric": {"type": "string"},
                  "period": {"type": "string"},
                  "enforcement": {"type": "string"},
                  "amount": {"$ref": "#/components/schemas/Decimal"},
                  "used": {"$ref": "#/components/schemas/Decimal"},
                  "currency": {"type": "string"},
                  "period_end": {"type": "string", "format": "date-time"},
                  "fired": {"type": "string", "format": "date-time"},
                  "delivered": {"type": "string", "format": "date-time"},
                  "attempts": {"type": "integer"},
                  "next_attempt": {"type": "string", "format": "date-time"},
                  "last_error": {"type": "string"}
                },
                "required": [
                  "id",
                  "limit_id",
                  "period_start",
                  "threshold",
                  "scope",
                  "scope_id",
                  "metric",
                  "period",
                  "enforcement",
                  "amount",
                  "used",
                  "fired",
                  "attempts",
                  "next_attempt"
                ]
              },
              "CustomerDetail": {
                "type": "object",
                "properties": {
                  "customer": {"$ref": "#/components/schemas/Customer"},
                  "balance": {"$ref": "#/components/schemas/Balance"},
                  "limits": {
                    "type": "array",
                    "items": {"$ref": "#/components/schemas/LimitStatus"},
                    "description": "Its own, its team's and its keys' limits."
                  },
                  "keys": {"type": "array", "items": {"$ref": "#/components/schemas/Key"}}
                },
                "required": ["customer", "balance", "limits", "keys"]
              },
              "TeamDetail": {
                "type": "object",
                "properties": {
                  "team": {"$ref": "#/components/schemas/Team"},
                  "balance": {"$ref": "#/components/schemas/Balance"},
                  "limits": {"type": "array", "items": {"$ref": "#/components/schemas/LimitStatus"}}
                },
                "required": ["team", "balance", "limits"]
              },
              "CustomerCreate": {
                "type": "object",
                "properties": {
                  "id": {"type": "string", "description": "1 to 200 letters, digits, '-', '_', '.', '@' or ':'."},
                  "name": {"type": "string"},
                  "team": {"type": "string", "description": "An existing team."},
                  "models": {
                    "type": "array",
                    "items": {"type": "string"},
                    "description": "Model patterns; [] or absent: every model."
                  }
                },
                "required": ["id"],
                "additionalProperties": false
              },
              "CustomerUpdate": {
                "type": "object",
                "properties": {
                  "name": {"type": "string", "description": "\"\" removes the name."},
                  "team": {"type": "string", "description": "An existing team; \"\" leaves the team."},
                  "models": {"type": "array", "items": {"type": "string"}, "description": "[] allows every model."}
                },
                "additionalProperties": false
              },
              "TeamCreate": {
                "type": "object",
                "properties": {"id": {"type": "string"}, "name": {"type": "string"}},
                "required": ["id"],
                "additionalProperties": false
              },
              "TeamUpdate": {"type": "object", "properties": {"name": {"type": "string"}}, "additionalProperties": false},
              "GrantCreate": {
                "type": "object",
                "properties": {
                  "amount": {
                    "$ref": "#/components/schemas/Decimal",
                    "description": "In the pricing currency. Give amount or credits."
                  },
                  "credits": {
                    "oneOf": [{"type": "integer", "minimum": 1}, {"$ref": "#/components/schemas/Decimal"}],
                    "description": "A number of credit units (when the config has a credit unit): amount = credits × its value."
                  },
                  "priority": {"type": "integer", "default": 10, "description": "Lower is spent first."},
                  "effective": {
                    "type": "string",
                    "format": "date-time",
                    "description": "When it starts to count (default: now)."
                  },
                  "expires": {
                    "type": "string",
                    "format": "date-time",
                    "description": "When what is left lapses (default: never)."
                  },
                  "note": {"type": "string"}
                },
                "additionalProperties": false
              },
              "GrantVoid": {"type": "object", "properties": {"note": {"type": "string"}}, "additionalProperties": false},
              "KeyCreate": {
                "type": "object",
                "properties": {
                  "customer": {"type": "string", "description": "An existing customer."},
                  "name": {"type": "string"}
                },
                "required": ["customer"],
                "additionalProperties": false
              },
              "LimitCreate": {
                "type": "object",
                "properties": {
                  "scope": {"type": "string", "enum": ["customer", "team", "key"]},
                  "scope_id": {"type": "string", "description": "An existing customer, team or key id."},
                  "metric": {"type": "string", "enum": ["money", "tokens", "requests"]},
                  "period": {
                    "type": "string",
                    "enum": ["minute", "day", "week", "month", "total"],
                    "description": "minute: a rate limit (429)."
                  },
                  "amount": {
                    "oneOf": [{"$ref": "#/components/schemas/Decimal"}, {"type": "integer", "minimum": 1}],
                    "description": "Money as a decimal string; tokens and requests whole."
                  },
                  "enforcement": {"type": "string", "enum": ["hard", "soft"], "default": "hard"},
                  "thresholds": {
                    "type": "array",
                    "items": {"type": "integer", "minimum": 1, "maximum": 1000},
                    "default": [50, 80, 100]
                  },
                  "anchor": {
                    "type": "string",
                    "format": "date-time",
                    "description": "Makes the periods anniversary periods starting here."
                  },
                  "note": {"type": "string"}
                },
                "required": ["scope", "scope_id", "metric", "period", "amount"],
                "additionalProperties": false
              },
              "CustomerList": {
                "type": "object",
                "properties": {"customers": {"type": "array", "items": {"$ref": "#/components/schemas/Customer"}}},
                "required": ["customers"]
              },
              "TeamList": {
                "type": "object",
                "properties": {"teams": {"type": "array", "items": {"$ref": "#/components/schemas/Team"}}},
                "required": ["teams"]
              },
              "KeyList": {
                "type": "object",
                "properties": {"keys": {"type": "array", "items": {"$ref": "#/components/schemas/Key"}}},
                "required": ["keys"]
              },
              "LimitList": {
                "type": "object",
                "properties": {"limits": {"type": "array", "items": {"$ref": "#/components/schemas/LimitStatus"}}},
                "required": ["limits"]
              },
              "AlertList": {
                "type": "object",
                "properties": {"alerts": {"type": "array", "items": {"$ref": "#/components/schemas/Alert"}}},
                "required": ["alerts"]
              }
            }
          }
        }
        """#
}
