import Foundation
import FuzzSupport
import TollgateCore

/// The JSON field scanner.
///
/// - Fed whole and in pieces, it gives the same captures (bytes and offsets), the same completeness, the same
///   malformed flag, the same duplicate and the same tallies ("a body split at any byte gives the same result").
/// - A capture's offsets locate its bytes in the document.
/// - A document Foundation's parser accepts is complete and well-formed to the scanner, and every captured value
///   (of a path that occurs once) is the value Foundation reads at that path: a request is read as the provider reads it.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    let input = FuzzInput(start, count, controlCount: 3)
    let body = input.body
    let foldingCase = input.control[0] & 0x80 != 0
    let whole = scan(body, in: [0..<body.count], foldingCase: foldingCase)
    let cut = scan(body, in: input.pieces(), foldingCase: foldingCase)
    require(whole.summary == cut.summary, "the scan differs when the body is cut:\n\(whole.summary)\n\(cut.summary)")
    for index in paths.indices {
        guard let capture = whole.scanner.capture(at: index) else { continue }
        require(
            capture.start >= 0 && capture.start <= capture.end && capture.end <= body.count
                && Array(body[capture.start..<capture.start + capture.bytes.count]) == capture.bytes,
            "capture \(index) does not stand where it says")
        require(capture.memberStart <= capture.start && body[capture.memberStart] == UInt8(ascii: "\""), "member start \(index)")
    }
    if !foldingCase { compareWithFoundation(body, whole.scanner) }
    return 0
}

private let paths = [["model"], ["usage"], ["response", "usage"], ["a", "b", "c"], ["stream"]]
// (No path inside another: the scanner captures one value at a time, and no layout watches a member and one of its own.)
private let keyPaths = JSONFieldScanner.KeyPaths(paths)
private let tallied = ["type", "mime_type"]

private func scan(_ body: [UInt8], in ranges: [Range<Int>], foldingCase: Bool) -> (scanner: JSONFieldScanner, summary: String) {
    var scanner = JSONFieldScanner(paths: keyPaths, tallying: tallied, foldingCase: foldingCase)
    Chunking.feed(body, in: ranges) { scanner.feed($0) }
    scanner.finish()
    let captures = paths.indices.map { scanner.capture(at: $0) }
    let summary =
        "\(captures) complete=\(scanner.isComplete) malformed=\(scanner.isMalformed) duplicate=\(String(describing: scanner.duplicate)) "
        + "tallies=\(tallied.indices.map { scanner.tally(at: $0).sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" } })"
    return (scanner, summary)
}

/// Whether a `,` stands right before a `}` or `]` (whitespace between) outside strings: JSON forbids it, and so do the
/// providers' parsers and the scanner, but Foundation's parser lets it pass.
private func hasTrailingComma(_ body: [UInt8]) -> Bool {
    var inString = false
    var escaped = false
    var afterComma = false
    for byte in body {
        if inString {
            if escaped {
                escaped = false
            } else if byte == UInt8(ascii: "\\") {
                escaped = true
            } else if byte == UInt8(ascii: "\"") {
                inString = false
            }
            continue
        }
        switch byte {
        case UInt8(ascii: "\""):
            inString = true
            afterComma = false
        case UInt8(ascii: ","): afterComma = true
        case UInt8(ascii: "}"), UInt8(ascii: "]"):
            if afterComma { return true }
        case 0x20, 0x09, 0x0A, 0x0D: continue
        default: afterComma = false
        }
    }
    return false
}

private func compareWithFoundation(_ body: [UInt8], _ scanner: JSONFieldScanner) {
    // A NUL byte makes Foundation guess UTF-16 or UTF-32 (it reads 00 32 as "2"); JSON on the wire is UTF-8, as the
    // scanner and the providers read it, and a raw NUL is never valid there.
    if body.contains(0) { return }
    guard let document = try? JSONSerialization.jsonObject(with: Data(body), options: [.fragmentsAllowed]) else { return }
    if hasTrailingComma(body) { return }
    require(scanner.isComplete && !scanner.isMalformed, "Foundation reads the document, the scanner finds it broken")
    guard scanner.duplicate == nil else { return }
    for (index, path) in paths.enumerated() {
        let expected = value(in: document, at: path)
        let captured = scanner.value(at: index)
        guard let expected else {
            // Foundation keeps the last of duplicate keys it does not report; the scanner may have seen any of them.
            continue
        }
        guard let captured else {
            require(false, "Foundation finds \(path), the scanner does not")
            return
        }
        guard let parsed = try? JSONSerialization.jsonObject(with: Data(captured), options: [.fragmentsAllowed]) else {
            require(false, "the capture at \(path) is not JSON: \(String(decoding: captured, as: UTF8.self))")
            return
        }
        require(sameJSON(parsed, expected), "the capture at \(path) differs from Foundation's value")
    }
}

private func value(in document: Any, at path: [String]) -> Any? {
    var current = document
    for key in path {
        guard let object = current as? [String: Any], let next = object[key] else { return nil }
        current = next
    }
    return current
}
