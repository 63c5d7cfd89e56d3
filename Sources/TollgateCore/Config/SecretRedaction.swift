/// How the config's values print: without their secrets.
///
/// Logs print values whole when they are interpolated or described (swift-service-lifecycle's `sl-service` metadata
/// names each service by its description, and a service that holds the config would otherwise spell out every
/// provider key). Every type that holds a key, a token or a signing secret describes itself without it, so no
/// `"\(value)"`, `String(describing:)` or `String(reflecting:)` of the config can reveal one. (`dump` walks stored
/// fields through `Mirror` whatever the description says: Tollgate never dumps a value.)
private func withoutSecret(_ type: String, _ fields: KeyValuePairs<String, String?>, secrets: [String?]) -> String {
    let shown = fields.compactMap { field in field.value.map { "\(field.key): \($0)" } }
    let present = secrets.contains { $0?.isEmpty == false }
    return "\(type)(" + (shown + (present ? ["secrets: redacted"] : [])).joined(separator: ", ") + ")"
}

extension Provider: CustomStringConvertible, CustomDebugStringConvertible {
    public var description: String {
        withoutSecret(
            "Provider", ["name": name, "base_url": baseURL, "wire_format": family.name, "api_key_env": apiKeyEnv],
            secrets: [apiKey, aws?.secretAccessKey])
    }
    public var debugDescription: String { description }
}

extension AWSCredentials: CustomStringConvertible, CustomDebugStringConvertible {
    public var description: String {
        withoutSecret("AWSCredentials", ["region": region], secrets: [accessKeyID, secretAccessKey, sessionToken])
    }
    public var debugDescription: String { description }
}

extension ProviderSpec: CustomStringConvertible, CustomDebugStringConvertible {
    public var description: String {
        withoutSecret(
            "ProviderSpec", ["file": file, "base_url": baseURL, "api_key_env": apiKeyEnv], secrets: [apiKey, awsSecretAccessKey, awsSessionToken])
    }
    public var debugDescription: String { description }
}

extension SinkSettings: CustomStringConvertible, CustomDebugStringConvertible {
    public var description: String {
        withoutSecret("SinkSettings", ["name": name, "api_key_env": apiKeyEnv], secrets: [apiKey])
    }
    public var debugDescription: String { description }
}

extension MeterSettings: CustomStringConvertible, CustomDebugStringConvertible {
    public var description: String {
        withoutSecret(
            "MeterSettings",
            ["path": url == nil ? path : nil, "url": url.map(Self.redactedURL), "password_env": passwordEnv, "password_file": passwordFile],
            secrets: [password, url.flatMap { Self.urlPassword($0) }])
    }
    public var debugDescription: String { description }

    /// Where the meter is, to show: the PostgreSQL URL without its password, or the SQLite file.
    public var location: String { url.map(Self.redactedURL) ?? path }

    /// Whether `location` names a PostgreSQL meter (`postgres://` or `postgresql://`) rather than a SQLite file.
    public static func isPostgresURL(_ location: String) -> Bool {
        location.hasPrefix("postgres://") || location.hasPrefix("postgresql://")
    }

    /// The URL's password, if it has one (`postgres://user:password@host`).
    static func urlPassword(_ url: String) -> String? {
        guard let at = url.firstIndex(of: "@"), let scheme = url.range(of: "://") else { return nil }
        let credentials = url[scheme.upperBound..<at]
        guard let colon = credentials.firstIndex(of: ":") else { return nil }
        return String(credentials[credentials.index(after: colon)...])
    }

    /// The URL with its password replaced by `***`, for messages and logs.
    public static func redactedURL(_ url: String) -> String {
        guard let password = urlPassword(url), let at = url.firstIndex(of: "@") else { return url }
        let start = url.index(at, offsetBy: -password.count)
        return url.replacingCharacters(in: start..<at, with: "***")
    }
}

extension AdminSettings: CustomStringConvertible, CustomDebugStringConvertible {
    public var description: String {
        withoutSecret("AdminSettings", ["listen": listen?.description, "token_env": tokenEnv], secrets: [token])
    }
    public var debugDescription: String { description }
}

extension AlertSettings: CustomStringConvertible, CustomDebugStringConvertible {
    public var description: String {
        withoutSecret("AlertSettings", ["secret_env": secretEnv], secrets: [secret, webhookURL])
    }
    public var debugDescription: String { description }
}

extension TracingSettings: CustomStringConvertible, CustomDebugStringConvertible {
    public var description: String {
        withoutSecret(
            "TracingSettings", ["endpoint": endpoint, "protocol": wireProtocol.rawValue, "service_name": serviceName],
            secrets: Array(headers.values))
    }
    public var debugDescription: String { description }
}

extension TollgateConfig: CustomStringConvertible, CustomDebugStringConvertible {
    public var description: String {
        "TollgateConfig(listen: \(listen), meter: \(meter.location), providers: [\(providers.keys.sorted().joined(separator: ", "))])"
    }
    public var debugDescription: String { description }
}
