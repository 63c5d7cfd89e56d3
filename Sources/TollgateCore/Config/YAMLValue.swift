import Yams

/// A node of a YAML file read with its place, so that every complaint names file and line.
struct YAMLValue {
    let node: Node
    let file: String
    let path: String

    /// Parses a whole document; an empty document reads as an empty mapping.
    static func parse(_ text: String, file: String) throws(ConfigError) -> YAMLValue {
        do {
            let node = try Yams.compose(yaml: text) ?? Node.mapping(.init([]))
            return YAMLValue(node: node, file: file, path: "")
        } catch let error as YamlError {
            throw ConfigError(file: file, line: Self.line(of: error), message: "not valid YAML: \(Self.problem(of: error))")
        } catch {
            throw ConfigError(file: file, line: nil, message: "not valid YAML: \(error)")
        }
    }

    var line: Int? { node.mark.map { $0.line } }

    func error(_ message: String) -> ConfigError {
        ConfigError(file: file, line: line, message: path.isEmpty ? message : "\(path): \(message)")
    }

    /// The members of a mapping, refusing keys outside `allowed` (when given) so typos are caught.
    func mapping(allowed: [String]? = nil) throws(ConfigError) -> [(key: String, value: YAMLValue)] {
        guard case .mapping(let mapping) = node else { throw error("expected a mapping (key: value lines)") }
        var members: [(key: String, value: YAMLValue)] = []
        for (keyNode, valueNode) in mapping {
            guard let key = keyNode.scalar?.string else { throw error("keys must be plain strings") }
            let child = YAMLValue(node: valueNode, file: file, path: path.isEmpty ? key : "\(path).\(key)")
            if let allowed, !allowed.contains(key) {
                throw YAMLValue(node: keyNode, file: file, path: "").error(
                    "unknown key '\(child.path)' (expected one of: \(allowed.joined(separator: ", ")))")
            }
            members.append((key, child))
        }
        return members
    }

    func sequence() throws(ConfigError) -> [YAMLValue] {
        guard case .sequence(let sequence) = node else { throw error("expected a list") }
        return sequence.enumerated().map { YAMLValue(node: $1, file: file, path: "\(path)[\($0)]") }
    }

    func string() throws(ConfigError) -> String {
        guard case .scalar(let scalar) = node else { throw error("expected a single value") }
        return scalar.string
    }

    func bool() throws(ConfigError) -> Bool {
        guard let value = node.bool else { throw error("expected true or false") }
        return value
    }

    func int(in range: ClosedRange<Int>) throws(ConfigError) -> Int {
        guard let value = node.int else { throw error("expected a whole number") }
        guard range.contains(value) else { throw error("must be between \(range.lowerBound) and \(range.upperBound)") }
        return value
    }

    /// A non-negative number of seconds (decimals allowed).
    func seconds() throws(ConfigError) -> Double {
        guard let value = node.float ?? node.int.map(Double.init), value >= 0 else { throw error("expected a number of seconds") }
        return value
    }

    private static func line(of error: YamlError) -> Int? {
        switch error {
        case .scanner(_, _, let mark, _), .parser(_, _, let mark, _), .composer(_, _, let mark, _): return mark.line
        default: return nil
        }
    }

    private static func problem(of error: YamlError) -> String {
        switch error {
        case .scanner(_, let problem, _, _), .parser(_, let problem, _, _), .composer(_, let problem, _, _): return problem
        default: return "\(error)"
        }
    }
}
