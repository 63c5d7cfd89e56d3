/// Every CSV Tollgate writes goes through here: events (`tollgate events --format csv`), reports, statements, the
/// dashboard's statement download and the `csv` and `focus` export files.
///
/// A cell is RFC 4180-quoted when it holds a comma, a quote or a line break (quotes doubled), after being
/// neutralised against formula injection (OWASP "CSV Injection"): a spreadsheet opening the file runs a cell that
/// starts with `=`, `+`, `-`, `@`, a tab or a carriage return as a formula, and customer-controlled text (a dimension
/// header, a customer id, a model name) reaches these files. Such a cell gets a `'` in front, which spreadsheets show
/// as text. A cell that is a plain number (`-1.50`, `+3`, `-2e-7`) is left as it is: negative amounts and corrections
/// stay numbers, and a number is never a formula.
public enum CSV {
    /// The first characters that make a spreadsheet read a cell as a formula.
    static let formulaStarts: Set<Unicode.Scalar> = ["=", "+", "-", "@", "\t", "\r"]

    /// A cell as written: neutralised, then quoted when it needs it.
    public static func cell(_ text: String) -> String {
        quoted(neutralised(text))
    }

    /// A row of cells, without the line end.
    public static func row(_ cells: [String]) -> String {
        cells.map(cell).joined(separator: ",")
    }

    /// `text` with a `'` in front when a spreadsheet would read it as a formula (and it is not a plain number).
    public static func neutralised(_ text: String) -> String {
        guard let first = text.unicodeScalars.first, formulaStarts.contains(first), !isPlainNumber(text) else { return text }
        return "'" + text
    }

    /// RFC 4180: quoted when it holds a comma, quote, CR or LF, quotes doubled.
    public static func quoted(_ text: String) -> String {
        guard text.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" || $0 == "\r\n" }) else { return text }
        return "\"" + text.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }

    /// An optional sign, digits with at most one decimal point (at least one digit), and an optional exponent:
    /// `-1.50`, `+3`, `.5`, `-2e-7`. Nothing else, not even spaces.
    static func isPlainNumber(_ text: String) -> Bool {
        var bytes = Substring(text).utf8[...]
        if let sign = bytes.first, sign == UInt8(ascii: "-") || sign == UInt8(ascii: "+") { bytes = bytes.dropFirst() }
        var digits = 0
        var point = false
        while let byte = bytes.first {
            if byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") {
                digits += 1
            } else if byte == UInt8(ascii: "."), !point {
                point = true
            } else {
                break
            }
            bytes = bytes.dropFirst()
        }
        guard digits > 0 else { return false }
        if let e = bytes.first, e == UInt8(ascii: "e") || e == UInt8(ascii: "E") {
            bytes = bytes.dropFirst()
            if let sign = bytes.first, sign == UInt8(ascii: "-") || sign == UInt8(ascii: "+") { bytes = bytes.dropFirst() }
            guard let digit = bytes.first, digit >= UInt8(ascii: "0") && digit <= UInt8(ascii: "9") else { return false }
            bytes = bytes.drop(while: { $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") })
        }
        return bytes.isEmpty
    }
}
