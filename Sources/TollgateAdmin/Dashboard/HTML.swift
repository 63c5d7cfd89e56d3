import Foundation
import TollgateBilling
import TollgateCore

/// A piece of HTML that is safe to put in a page as it is: text goes in only through escaping.
///
/// Written as a string literal, the literal parts are markup and every interpolated `String` is escaped, so a
/// customer id (which users choose) can never become markup or break out of an attribute:
///
/// ```swift
/// let cell: HTML = "<td title=\"\(customer)\">\(customer)</td>"   // both escaped
/// let row: HTML = "<tr>\(cell)</tr>"                              // HTML goes in as it is
/// ```
struct HTML: Sendable, Equatable, ExpressibleByStringInterpolation, CustomStringConvertible {
    /// The markup.
    private(set) var markup: String

    /// Markup written by the program (never text from a request or the meter).
    init(markup: String) { self.markup = markup }

    init(stringLiteral value: String) { markup = value }

    init(stringInterpolation: Interpolation) { markup = stringInterpolation.markup }

    /// Text, escaped.
    init(text: String) { markup = htmlEscaped(text) }

    /// Nothing.
    static let empty = HTML(markup: "")

    var description: String { markup }

    /// The pieces one after another.
    init(joining pieces: some Sequence<HTML>, separator: HTML = .empty) {
        markup = pieces.map(\.markup).joined(separator: separator.markup)
    }

    static func + (lhs: HTML, rhs: HTML) -> HTML { HTML(markup: lhs.markup + rhs.markup) }

    static func += (lhs: inout HTML, rhs: HTML) { lhs.markup += rhs.markup }

    /// The interpolation of an ``HTML`` literal: literal parts are markup, strings are escaped.
    struct Interpolation: StringInterpolationProtocol {
        var markup = ""

        init(literalCapacity: Int, interpolationCount: Int) { markup.reserveCapacity(literalCapacity + 16 * interpolationCount) }

        mutating func appendLiteral(_ literal: String) { markup += literal }

        /// Text, escaped.
        mutating func appendInterpolation(_ text: String) { markup += htmlEscaped(text) }

        /// Text, escaped.
        mutating func appendInterpolation(_ text: Substring) { markup += htmlEscaped(String(text)) }

        /// HTML, as it is.
        mutating func appendInterpolation(_ html: HTML) { markup += html.markup }

        /// Pieces of HTML one after another.
        mutating func appendInterpolation(_ pieces: [HTML]) { markup += pieces.map(\.markup).joined() }

        /// A number.
        mutating func appendInterpolation(_ number: Int) { markup += String(number) }

        /// A number.
        mutating func appendInterpolation(_ number: Int64) { markup += String(number) }
    }
}

// MARK: - URLs

/// Builds the dashboard's links: path segments and query values percent-encoded, so a customer id such as
/// `a/b?c` stays one segment.
enum DashboardURL {
    /// Characters left as they are in a path segment or a query value (RFC 3986 unreserved).
    private static let unreserved = CharacterSet(charactersIn: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")

    /// One path segment or query value, percent-encoded.
    static func component(_ text: String) -> String {
        text.addingPercentEncoding(withAllowedCharacters: unreserved) ?? ""
    }

    /// `path?name=value&…`, skipping `nil` values.
    static func make(_ path: String, _ query: [(String, String?)] = []) -> String {
        let pairs = query.compactMap { name, value in value.map { "\(component(name))=\(component($0))" } }
        return pairs.isEmpty ? path : path + "?" + pairs.joined(separator: "&")
    }

    /// The drill-down page of a customer.
    static func customer(_ id: String) -> String { "/dashboard/customers/\(component(id))" }

    /// The events page of a customer.
    static func events(_ id: String) -> String { customer(id) + "/events" }

    /// The statement of a customer for a month (`2026-11`).
    static func statement(_ id: String, period: String) -> String { make(customer(id) + "/statement", [("period", period)]) }
}

// MARK: - Formatting

/// How figures are written on the dashboard: money exactly in tables (and always in `data-value`), rounded in tiles.
enum Figures {
    /// The exact decimal of an amount, as the meter and `tollgate report margin --format json` write it.
    static func exact(_ amount: Money) -> String { amount.description }

    /// An amount rounded half to even to `digits` decimals, written with exactly that many and thousands separators.
    static func rounded(_ amount: Money, digits: Int) -> String {
        let text = amount.rounded(toDigits: digits).description
        let negative = text.hasPrefix("-")
        let unsigned = negative ? String(text.dropFirst()) : text
        let parts = unsigned.split(separator: ".", maxSplits: 1, omittingEmptySubsequences: false)
        let whole = grouped(String(parts.first ?? "0"))
        let fraction = parts.count > 1 ? String(parts[1]) : ""
        let padded = digits > 0 ? "." + fraction + String(repeating: "0", count: max(0, digits - fraction.count)) : ""
        return (negative ? "-" : "") + whole + padded
    }

    /// An amount for a tile: cents when it is a unit or more, else six decimals (small test volumes stay visible).
    static func tile(_ amount: Money) -> String {
        let unit = Money(raw: Money.scale)
        let magnitude = amount.isNegative ? Money.zero - amount : amount
        return rounded(amount, digits: magnitude >= unit || amount == .zero ? 2 : 6)
    }

    /// A whole number with thousands separators.
    static func count(_ number: Int) -> String {
        number < 0 ? "-" + grouped(String(number.magnitude)) : grouped(String(number))
    }

    /// A margin percentage (`12.34 %`), or a dash without revenue.
    static func percent(_ text: String?) -> String { text.map { "\($0) %" } ?? "—" }

    /// A time as `2026-11-21 10:00:00 UTC` (to the second, rounded down).
    static func time(_ milliseconds: Int64) -> String {
        Timestamps.iso8601(milliseconds, fraction: .wholeSeconds).replacingOccurrences(of: "T", with: " ").replacingOccurrences(of: "Z", with: " UTC")
    }

    /// Digits with a comma every three from the right.
    private static func grouped(_ digits: String) -> String {
        var groups: [Substring] = []
        var end = digits.endIndex
        while end > digits.startIndex {
            let start = digits.index(end, offsetBy: -3, limitedBy: digits.startIndex) ?? digits.startIndex
            groups.insert(digits[start..<end], at: 0)
            end = start
        }
        return groups.isEmpty ? "0" : groups.joined(separator: ",")
    }

    /// `part / whole` in tenths of a percent, computed on integers (truncated; 0 when `whole` is not positive).
    static func shareTenths(_ part: Int128, of whole: Int128) -> Int128 {
        whole > 0 ? part * 1000 / whole : 0
    }

    /// Tenths of a percent written `12.3`.
    static func tenths(_ value: Int128) -> String {
        let sign = value < 0 ? "-" : ""
        return "\(sign)\(value.magnitude / 10).\(value.magnitude % 10)"
    }
}
