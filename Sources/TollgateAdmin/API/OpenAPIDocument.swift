import Foundation

/// The OpenAPI 3.1 description of the admin API, served at `GET /admin/openapi.json`: every route of
/// ``AdminRoute/all`` with its parameters, request body and responses, the records' schemas and the bearer scheme.
///
/// The document is a resource of this target (API/openapi.json), read once. AdminAPITests parses it and checks that
/// it describes exactly the routes the router serves, with their query parameters and body fields, and that every
/// reference resolves: a route added to one and not the other fails the tests. A binary installed on its own needs the
/// `Tollgate_TollgateAdmin.resources` folder beside it (deploy/Containerfile copies it).
enum OpenAPIDocument {
    /// The document, as served.
    static let json: String = {
        guard let url = Bundle.module.url(forResource: "openapi", withExtension: "json"),
            let text = try? String(contentsOf: url, encoding: .utf8)
        else { return #"{"error":"openapi.json is missing from Tollgate_TollgateAdmin.resources"}"# }
        return text
    }()
}
