import Foundation
import FuzzSupport

@testable import TollgateCore

/// The JSON array splitter (Gemini's array streams).
///
/// - Fed whole and in pieces, it gives the same elements, the same end and the same fault ("pieces may be cut at
///   any byte").
/// - Every element range lies inside the piece it was found in.
/// - An array Foundation's parser accepts is split into as many elements as Foundation reads, each element the
///   value Foundation reads at its place.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    let input = FuzzInput(start, count, controlCount: 3)
    let body = input.body
    let whole = split(body, in: [0..<body.count])
    let cut = split(body, in: input.pieces())
    require(whole == cut, "the split differs when the body is cut:\n\(whole)\n\(cut)")
    guard let array = try? JSONSerialization.jsonObject(with: Data(body), options: [.fragmentsAllowed]) as? [Any] else { return 0 }
    guard let elements = JSONArraySplitter.elements(of: body) else {
        require(false, "Foundation reads an array, the splitter does not")
        return 0
    }
    require(elements.count == array.count, "\(elements.count) elements split, Foundation reads \(array.count)")
    for (element, expected) in zip(elements, array) {
        let parsed = try? JSONSerialization.jsonObject(with: Data(element), options: [.fragmentsAllowed])
        require(parsed.map { sameJSON($0, expected) } ?? false, "element \(String(decoding: element, as: UTF8.self)) is not Foundation's")
    }
    return 0
}

/// What the splitter makes of the body: each element's bytes put together, then the end or the fault.
private struct Split: Equatable, CustomStringConvertible {
    var elements: [[UInt8]] = []
    var open: [UInt8]?
    var arrayEnd = false
    var malformed: String?
    var shape = JSONArraySplitter.Shape.unknown
    var closed = false

    var description: String {
        "\(elements.count) elements, open \(open?.count ?? -1), end \(arrayEnd), malformed \(malformed ?? "-"), \(shape), closed \(closed)"
    }
}

private func split(_ body: [UInt8], in ranges: [Range<Int>]) -> Split {
    var splitter = JSONArraySplitter()
    var result = Split()
    Chunking.feed(body, in: ranges) { piece in
        var index = 0
        while let event = splitter.next(in: piece, from: &index) {
            require(index <= piece.count, "the index runs past the piece")
            switch event {
            case .elementBytes(let range):
                require(range.lowerBound >= 0 && range.upperBound <= piece.count && !range.isEmpty, "element bytes \(range) of \(piece.count)")
                result.open = (result.open ?? []) + Array(UnsafeRawBufferPointer(rebasing: piece[range]))
            case .elementEnd:
                require(result.open != nil, "an element ends that never began")
                result.elements.append(result.open ?? [])
                result.open = nil
            case .arrayEnd:
                require(!result.arrayEnd, "the array ends twice")
                result.arrayEnd = true
            case .malformed(let why):
                require(result.malformed == nil, "two faults")
                result.malformed = why
            }
        }
    }
    result.shape = splitter.shape
    result.closed = splitter.isClosed
    return result
}
