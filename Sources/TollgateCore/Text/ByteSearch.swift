extension StringProtocol {
    /// Whether `needle` occurs in the text, compared byte for byte (UTF-8), without allocating.
    ///
    /// For the request path: there `contains("…")` on a string resolves to Foundation's `StringProtocol` method, which
    /// bridges to `NSString` on every call, and the standard library's `firstRange(of:)` builds a table per search.
    public func containsBytes(of needle: some StringProtocol) -> Bool {
        let haystack = utf8
        let needle = needle.utf8
        guard let first = needle.first else { return true }
        var start = haystack.startIndex
        while let found = haystack[start...].firstIndex(of: first) {
            if haystack[found...].starts(with: needle) { return true }
            start = haystack.index(after: found)
        }
        return false
    }
}
