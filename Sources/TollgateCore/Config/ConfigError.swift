/// A configuration or provider file that cannot be used, with the place and a message a person can act on.
public struct ConfigError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The file the problem is in.
    public var file: String
    /// The 1-based line, when known.
    public var line: Int?
    /// What is wrong and, where it helps, what would be right.
    public var message: String

    /// Creates an error.
    public init(file: String, line: Int?, message: String) {
        self.file = file
        self.line = line
        self.message = message
    }

    /// `FILE:LINE: message`, the form editors and CI logs link to.
    public var description: String { "\(file):\(line.map(String.init) ?? "-"): \(message)" }
}
