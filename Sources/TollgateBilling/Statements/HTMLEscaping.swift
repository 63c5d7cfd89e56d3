/// `text` safe in HTML text and in quoted attribute values: `&`, `<`, `>`, `"` and `'` as character references.
///
/// Works on Unicode scalars, not characters, so that a quote or bracket followed by a combining mark (one character
/// that is not `"`) is escaped all the same. The statements and the dashboard both write with it.
public func htmlEscaped(_ text: String) -> String {
    var escaped = ""
    escaped.reserveCapacity(text.utf8.count)
    for scalar in text.unicodeScalars {
        switch scalar {
        case "&": escaped += "&amp;"
        case "<": escaped += "&lt;"
        case ">": escaped += "&gt;"
        case "\"": escaped += "&quot;"
        case "'": escaped += "&#39;"
        default: escaped.unicodeScalars.append(scalar)
        }
    }
    return escaped
}
