import Testing
import TollgateCore

/// `JSONFieldScanner` keeps the raw text and position of chosen members of a JSON document fed in pieces.
@Suite("JSONFieldScanner")
struct JSONFieldScannerTests {
    /// Scans `json` (in the given pieces, default whole) for `paths` and returns the scanner after `finish()`.
    private func scan(_ json: String, _ paths: [[String]], cutAt cuts: [Int] = []) -> JSONFieldScanner {
        var scanner = JSONFieldScanner(paths: paths)
        for piece in Array(utf8: json).pieces(cutAt: cuts) { scanner.feed(piece) }
        scanner.finish()
        return scanner
    }

    private func values(_ json: String, _ paths: [[String]], cutAt cuts: [Int] = []) -> [String?] {
        let scanner = scan(json, paths, cutAt: cuts)
        return paths.indices.map { scanner.value(at: $0)?.text }
    }

    /// Expects the same captures (bytes and offsets) at every two-piece split and one byte at a time.
    private func expectSplitInvariant(_ json: String, _ paths: [[String]], sourceLocation: SourceLocation = #_sourceLocation) {
        let whole = scan(json, paths)
        let bytes = Array(utf8: json)
        for cut in 0...bytes.count {
            let split = scan(json, paths, cutAt: [cut])
            #expect(paths.indices.map(split.capture(at:)) == paths.indices.map(whole.capture(at:)), "cut at \(cut)", sourceLocation: sourceLocation)
            #expect(split.isComplete == whole.isComplete && split.isMalformed == whole.isMalformed, sourceLocation: sourceLocation)
        }
        var bytewise = JSONFieldScanner(paths: paths)
        for byte in bytes { bytewise.feed([byte]) }
        bytewise.finish()
        #expect(paths.indices.map(bytewise.capture(at:)) == paths.indices.map(whole.capture(at:)), "byte at a time", sourceLocation: sourceLocation)
    }

    @Test("the doc example")
    func docExample() {
        #expect(values(#"{"model":"gpt-4o","usage":{"prompt_tokens":3}}"#, [["model"], ["usage"]]) == [#""gpt-4o""#, #"{"prompt_tokens":3}"#])
    }

    @Test("the first watched key seen twice is the duplicate, whichever of many watched paths it is")
    func duplicates() {
        // 70 watched paths and their 90 prefixes: duplicates are noted the same way past the 64th.
        let paths = (0..<70).map { ["k\($0)"] } + (0..<20).map { ["n\($0)", "inner"] }
        #expect(scan(#"{"k0":1,"k69":2,"n19":{"inner":3},"other":4,"other":5}"#, paths).duplicate == nil)
        for key in ["k0", "k63", "k64", "k69"] {
            #expect(scan(#"{"k1":0,"\#(key)":1,"k2":0,"\#(key)":2}"#, paths).duplicate == [key])
        }
        #expect(scan(#"{"n19":{"inner":1,"inner":2}}"#, paths).duplicate == ["n19", "inner"])
        #expect(scan(#"{"n19":{},"k5":1,"n19":{}}"#, paths).duplicate == ["n19"])
    }

    @Test("nested paths")
    func nestedPaths() {
        let json = #"{"type":"response.completed","response":{"id":"r","model":"gpt-5","usage":{"input_tokens":3},"x":{"usage":0}},"usage":1}"#
        let paths = [["type"], ["response", "model"], ["response", "usage"], ["usage"], ["response", "missing"], ["response", "x", "usage"]]
        #expect(values(json, paths) == [#""response.completed""#, #""gpt-5""#, #"{"input_tokens":3}"#, "1", nil, "0"])
        expectSplitInvariant(json, paths)
    }

    @Test("a nested key at the wrong depth does not match")
    func wrongDepth() {
        #expect(values(#"{"a":{"usage":{"n":1}},"b":{"model":"x"}}"#, [["usage"], ["model"], ["a", "model"]]) == [nil, nil, nil])
    }

    @Test("members inside arrays are never matched")
    func arrays() {
        let json = #"{"choices":[{"usage":{"n":1},"model":"in-array"}],"data":[[{"usage":2}]],"usage":{"n":3}}"#
        #expect(
            values(json, [["usage"], ["model"], ["choices"], ["choices", "usage"]])
                == [#"{"n":3}"#, nil, #"[{"usage":{"n":1},"model":"in-array"}]"#, nil])
        #expect(values(#"[{"usage":1},{"model":"x"}]"#, [["usage"], ["model"]]) == [nil, nil])
        expectSplitInvariant(json, [["usage"], ["choices"]])
    }

    @Test("quotes, backslashes and braces inside strings do not confuse it")
    func escapedStrings() {
        let json = #"{"content":"a \"quoted\" {\"usage\":1} \\","model":"m\"x\\","k\"ey":{"usage":2},"usage":"\\\"}"}"#
        #expect(values(json, [["model"], ["usage"], ["content"]]) == [#""m\"x\\""#, #""\\\"}""#, #""a \"quoted\" {\"usage\":1} \\""#])
        #expect(scan(json, [["usage"]]).isComplete)
        expectSplitInvariant(json, [["model"], ["usage"], ["content"]])
    }

    @Test("long strings, searched many bytes at a time, end at their quote however many escapes come before it")
    func longStrings() {
        let text =
            String(repeating: "lorem ipsum ", count: 5) + #"\"quoted\" and \\ a backslash"# + String(repeating: "x", count: 40)
            + #"\n\t\u00e9\\"# + String(repeating: "y", count: 20) + #"\\\""#
        let key = String(repeating: "k", count: 40)
        let json = #"{"messages":[{"content":"\#(text)"}],"model":"\#(text)","usage":{"note":"\#(text)","n":1},"\#(key)":"\#(text)"}"#
        #expect(values(json, [["model"], ["usage"], [key]]) == [#""\#(text)""#, #"{"note":"\#(text)","n":1}"#, #""\#(text)""#])
        #expect(scan(json, [["model"]]).isComplete && !scan(json, [["model"]]).isMalformed)
        expectSplitInvariant(json, [["model"], ["usage"], [key]])
    }

    @Test("long keys are read whole: a wanted key of any length matches, a longer key that starts with one does not")
    func longKeys() {
        let key64 = String(repeating: "k", count: 64)
        let key65 = key64 + "k"
        let long = String(repeating: "x", count: 300)
        let json = #"{"\#(long)":{"usage":0},"\#(key65)":1,"\#(key64)":2,"usage":{"\#(long)":5,"n":3}}"#
        #expect(values(json, [[key64], ["usage"], [key65]]) == ["2", #"{"\#(long)":5,"n":3}"#, "1"])
        #expect(values(#"{"\#(key65)":1}"#, [[key64]]) == [nil])
        expectSplitInvariant(json, [[key64], ["usage"]])
    }

    @Test("runs taken whole: escaped keys and values, a scalar past its bound, tallied values, at every split")
    func runsAtEverySplit() {
        // Escapes inside keys (decoded before comparing) and inside captured values (kept as they were).
        let escaped = #"{"mod\u0065l":"a\u00e9\\b\"c","usage":{"n\u0031":"x\"y","m":[1,"\\"]}}"#
        #expect(values(escaped, [["model"], ["usage"]]) == [#""a\u00e9\\b\"c""#, #"{"n\u0031":"x\"y","m":[1,"\\"]}"#])
        expectSplitInvariant(escaped, [["model"], ["usage"]])

        // A scalar longer than the scanner's bound is malformed, however it is cut.
        let digits = String(repeating: "7", count: 300)
        expectSplitInvariant(#"{"n":\#(digits),"usage":1}"#, [["usage"]])
        for cut in [0, 10, 150, 299, 305] {
            #expect(scan(#"{"n":\#(digits),"usage":1}"#, [["usage"]], cutAt: [cut]).isMalformed)
        }
        #expect(!scan(#"{"n":\#(String(repeating: "7", count: 256)),"usage":1}"#, [["usage"]]).isMalformed)

        // A tallied key's string values are counted decoded, whatever the pieces.
        let parts = #"{"messages":[{"type":"te\u0078t"},{"type":"image_url"},{"type":"text","x":"\"type\""}]}"#
        let bytes = Array(utf8: parts)
        for cut in 0...bytes.count {
            var scanner = JSONFieldScanner(paths: JSONFieldScanner.KeyPaths([]), tallying: ["type"])
            for piece in bytes.pieces(cutAt: [cut]) { scanner.feed(piece) }
            scanner.finish()
            #expect(scanner.tally(at: 0) == ["text": 2, "image_url": 1], "cut at \(cut)")
        }
    }

    @Test("the last occurrence wins, whatever it is")
    func lastOccurrenceWins() {
        #expect(values(#"{"usage":{"n":1},"usage":{"n":2}}"#, [["usage"]]) == [#"{"n":2}"#])
        #expect(values(#"{"usage":{"n":1},"x":0,"usage":null}"#, [["usage"]]) == ["null"])
        #expect(values(#"{"a":{"m":1},"a":{"z":0},"a":{"m":3}}"#, [["a", "m"]]) == ["3"])
    }

    @Test("scalars of every kind, with whitespace")
    func scalars() {
        let json = "{ \"a\" : true ,\n\t\"b\":false,\"c\":null,\"d\":-12.5e+3\r\n,\"e\":0 }"
        #expect(values(json, [["a"], ["b"], ["c"], ["d"], ["e"]]) == ["true", "false", "null", "-12.5e+3", "0"])
        expectSplitInvariant(json, [["a"], ["d"], ["e"]])
    }

    @Test("a number at the end of input is closed by finish()")
    func numberAtEnd() {
        let scanner = scan(#"{"usage":{"n":1},"total":12345"#, [["total"], ["usage"]])
        #expect(scanner.value(at: 0)?.text == "12345")
        #expect(scanner.capture(at: 0)?.end == 30)
        #expect(!scanner.isComplete)
        expectSplitInvariant(#"{"total":12345"#, [["total"]])

        var unfinished = JSONFieldScanner(paths: [["total"]])
        unfinished.feed(Array(utf8: #"{"total":12"#))
        #expect(unfinished.value(at: 0) == nil, "a number is not captured before it is known to have ended")
        unfinished.finish()
        #expect(unfinished.value(at: 0)?.text == "12")

        var topLevel = JSONFieldScanner(paths: [["x"]])
        topLevel.feed(Array(utf8: "42"))
        #expect(!topLevel.isComplete)
        topLevel.finish()
        #expect(topLevel.isComplete && !topLevel.isMalformed)
    }

    @Test("capture offsets and member start, across pieces")
    func offsets() throws {
        let json = #"{"model": "gpt", "usage" :  {"n":1} , "tier":"x"}"#
        let bytes = Array(utf8: json)
        for cut in [0, 5, 17, 20, 30, bytes.count] {
            let scanner = scan(json, [["usage"], ["model"], ["tier"]], cutAt: [cut])
            let usage = try #require(scanner.capture(at: 0))
            #expect(usage.bytes.text == #"{"n":1}"#)
            #expect(usage.start == 28)
            #expect(usage.end == 35)
            #expect(usage.memberStart == 17)
            #expect(Array(bytes[usage.start..<usage.end]) == usage.bytes)
            #expect(bytes[usage.memberStart..<usage.end].text == #""usage" :  {"n":1}"#)
            let model = try #require(scanner.capture(at: 1))
            #expect(bytes[model.memberStart..<model.end].text == #""model": "gpt""#)
            let tier = try #require(scanner.capture(at: 2))
            #expect(bytes[tier.start..<tier.end].text == #""x""#)
        }
    }

    @Test("completeness and malformation")
    func completeness() {
        #expect(scan(#"{"a":[1,{"b":"}"}]}"#, []).isComplete)
        #expect(!scan(#"{"a":[1,{"b":"}"}]"#, []).isComplete)
        #expect(!scan(#"  "#, []).isComplete)
        #expect(scan(#" {} "#, []).isComplete)
        #expect(!scan(#" {} "#, []).isMalformed)
        #expect(scan(#"{}}"#, []).isMalformed)
        #expect(scan(#"{} x"#, []).isMalformed)
        #expect(scan(#"{}{}"#, []).isMalformed)
        #expect(scan(#"{"a":1}"b""#, []).isMalformed)
        #expect(scan("Unauthorized", []).isMalformed)
        // Scalars are checked down to the deepest wanted path; below it only brackets and strings are followed.
        #expect(scan(#"{"a":tru}"#, [["a"]]).isMalformed)
        #expect(scan(#"{"a":1.2.3}"#, [["a"]]).isMalformed)
        #expect(scan(#"{"a":[tru]}"#, []).isComplete)
        #expect(!scan(#"{"a":-0.5E-7,"b":[true,false,null,0]}"#, []).isMalformed)
    }

    @Test(
        "a key without its colon, members without a comma, a trailing comma or a mismatched bracket is malformed",
        arguments: [
            #"{"stream": true, "stream_options", "temperature": 1}"#, #"{"a" "b": 1}"#, #"{"a": 1 "b": 2}"#, #"{"a": 1,}"#, #"[1 2]"#,
            #"[1,]"#, #"{"a": [1}"#, #"{"a": 1]"#, #"{"a":: 1}"#, #"{, "a": 1}"#, #"{"a": 1} :"#, #"{"a": [1, 2] "b": 1}"#,
        ])
    func structuralFaults(_ json: String) {
        // Found by fuzz/ (FuzzRequestBody): `"stream_options",` was read as a member without a value, so the usage
        // opt-in was added and the body named stream_options twice. Strict parsers (the provider's) refuse these.
        #expect(scan(json, [["a"], ["stream_options"]]).isMalformed)
        var tallying = JSONFieldScanner(paths: JSONFieldScanner.KeyPaths([]), tallying: ["type"])
        tallying.feed(Array(utf8: json))
        tallying.finish()
        #expect(tallying.isMalformed)
        expectSplitInvariant(json, [["a"], ["stream_options"]])
    }

    @Test("well-formed documents stay well-formed at every level")
    func wellFormed() {
        for json in [#"{}"#, #"[]"#, #"{"a": [], "b": {}, "c": [1, {"d": [true, null]}], "e": "x"}"#, #" [ 1 , "2" , [ ] ] "#] {
            #expect(!scan(json, [["a"], ["c", "d"]]).isMalformed, "\(json)")
            var tallying = JSONFieldScanner(paths: JSONFieldScanner.KeyPaths([]), tallying: ["d"])
            tallying.feed(Array(utf8: json))
            tallying.finish()
            #expect(tallying.isComplete && !tallying.isMalformed, "\(json)")
        }
    }

    @Test("one set of encoded paths serves many scanners")
    func sharedPaths() {
        let paths = JSONFieldScanner.KeyPaths([["usage"]])
        for n in 0..<3 {
            var scanner = JSONFieldScanner(paths: paths)
            scanner.feed(Array(utf8: #"{"usage":\#(n)}"#))
            scanner.finish()
            #expect(scanner.value(at: 0)?.text == "\(n)")
        }
    }
}
