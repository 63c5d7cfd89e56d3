import Testing
import TollgateCore

/// `JSONEdit` removes, replaces and inserts members while every other byte stays as it was.
@Suite("JSONEdit")
struct JSONEditTests {
    /// `json` with its top-level `key` member removed through ``JSONEdit/memberRemovalRange(_:in:)``.
    private func removing(_ key: String, from json: String) throws -> String {
        let bytes = Array(utf8: json)
        var scanner = JSONFieldScanner(paths: [[key]])
        scanner.feed(bytes)
        scanner.finish()
        let capture = try #require(scanner.capture(at: 0))
        var edited = bytes
        edited.removeSubrange(JSONEdit.memberRemovalRange(capture, in: bytes))
        return edited.text
    }

    @Test(
        "member removal takes one adjacent comma",
        arguments: [
            (#"{"usage":null,"a":1,"b":2}"#, #"{"a":1,"b":2}"#),  // first
            (#"{"a":1,"usage":null,"b":2}"#, #"{"a":1,"b":2}"#),  // middle
            (#"{"a":1,"b":2,"usage":null}"#, #"{"a":1,"b":2}"#),  // last
            (#"{"usage":null}"#, #"{}"#),  // only
            (#"{ "usage" : {"n":[1,2]} , "a": 1 }"#, #"{ "a": 1 }"#),  // first, spaced
            (#"{ "a": 1 , "usage": null }"#, #"{ "a": 1  }"#),  // last, spaced: the whitespace around it stays
            ("{\n  \"a\": 1,\n  \"usage\": null,\n  \"b\": 2\n}", "{\n  \"a\": 1,\n  \"b\": 2\n}"),  // middle, pretty
            ("{ \"usage\": \"x,\" }", "{  }"),  // only, comma in the value
        ]
    )
    func memberRemoval(json: String, expected: String) throws {
        let result = try removing("usage", from: json)
        #expect(result == expected)
        #expect(sameJSON(Array(utf8: result), Array(utf8: expected)))
    }

    @Test("replacements apply in any order and leave other bytes alone")
    func apply() {
        let text = Array(utf8: #"{"model":"a","n":1}"#)
        let edits = [
            JSONEdit.Replacement(range: 1..<1, bytes: Array(utf8: #""x":0,"#)),
            JSONEdit.Replacement(range: 17..<18, bytes: Array(utf8: "42")),
            JSONEdit.Replacement(range: 9..<12, bytes: Array(utf8: #""bb""#)),
        ]
        #expect(JSONEdit.apply(edits, to: text).text == #"{"x":0,"model":"bb","n":42}"#)
        #expect(JSONEdit.apply(edits.reversed(), to: text).text == #"{"x":0,"model":"bb","n":42}"#)
        #expect(JSONEdit.apply([], to: text) == text)
    }

    @Test("object insertion point")
    func insertionPoint() {
        #expect(JSONEdit.objectInsertionPoint(in: Array(utf8: #"{"a":1}"#))! == (1, true))
        #expect(JSONEdit.objectInsertionPoint(in: Array(utf8: " \n{ }"))! == (3, false))
        #expect(JSONEdit.objectInsertionPoint(in: Array(utf8: "{\n  \"a\": 1}"))! == (1, true))
        #expect(JSONEdit.objectInsertionPoint(in: Array(utf8: "[1]")) == nil)
        #expect(JSONEdit.objectInsertionPoint(in: []) == nil)
    }
}
