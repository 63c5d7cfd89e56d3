import Foundation
import Testing
import TollgateCore

// MARK: - Files

/// The repository root, found from this file's place (Tests/TollgateConfigurationTests/Support.swift).
let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent()

/// Runs `body` with a fresh folder under the system temporary directory, removed when `body` returns or throws.
func withTemporaryDirectory<T>(_ body: (URL) throws -> T) throws -> T {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("tollgate-proxy-tests-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: directory) }
    return try body(directory)
}

/// A rate written per million tokens, as an exact per-token amount.
func perMillionRate(_ text: String) throws -> Money { try #require(Money.perMillionTokens(text), "\(text) is a rate") }
