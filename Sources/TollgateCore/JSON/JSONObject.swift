import Foundation

/// A decoded JSON object read loosely: missing, null or mistyped members read as `nil`, never as a crash.
///
/// Used for the small objects a scanner captures (usage objects, request options), not for whole bodies.
public struct JSONObject: @unchecked Sendable {
    /// The decoded members.
    public let members: [String: Any]

    /// Decodes JSON text that must be an object; `nil` for anything else.
    public init?(_ bytes: [UInt8]) {
        guard let object = try? JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any] else { return nil }
        self.members = object
    }

    /// Wraps already decoded members.
    public init(members: [String: Any]) { self.members = members }

    /// A whole-number member; numbers with a fraction or out of range read as `nil`.
    public func int(_ key: String) -> Int? {
        guard let value = members[key], !(value is NSNull) else { return nil }
        return value as? Int
    }

    /// A string member.
    public func string(_ key: String) -> String? { members[key] as? String }

    /// A boolean member.
    public func bool(_ key: String) -> Bool? { members[key] as? Bool }

    /// A nested object member.
    public func object(_ key: String) -> JSONObject? {
        (members[key] as? [String: Any]).map(JSONObject.init(members:))
    }
}

/// Decodes a captured JSON string value (with its quotes) into a Swift string; `nil` for any other value.
public func decodeJSONString(_ bytes: [UInt8]) -> String? {
    guard bytes.count >= 2, bytes.first == UInt8(ascii: "\""), bytes.last == UInt8(ascii: "\"") else { return nil }
    if !bytes.contains(UInt8(ascii: "\\")) { return String(decoding: bytes[1..<(bytes.count - 1)], as: UTF8.self) }
    return try? JSONSerialization.jsonObject(with: Data(bytes), options: .fragmentsAllowed) as? String
}
