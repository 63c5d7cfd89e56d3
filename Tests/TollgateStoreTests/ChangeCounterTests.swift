import Foundation
import Testing

@testable import TollgateStore

/// The change counter beside a SQLite meter: made with the database's permissions (whatever the umask), shared through
/// links to the database, and never a file it does not own.
@Suite("Change counter")
struct ChangeCounterTests {
    @Test("made with the database's permissions, so that whoever writes the meter can raise it")
    func permissions() async throws {
        try await withTemporaryDirectory { directory in
            let path = meterPath(in: directory)
            _ = try MeterStore(path: path)
            try FileManager.default.removeItem(atPath: path + "-changes")
            try FileManager.default.setAttributes([.posixPermissions: 0o660], ofItemAtPath: path)
            let counter = try #require(ChangeCounter(besideDatabase: path))
            let attributes = try FileManager.default.attributesOfItem(atPath: path + "-changes")
            #expect((attributes[.posixPermissions] as? Int) == 0o660)
            counter.raise()
            #expect(counter.value == 1)
        }
    }

    @Test("processes reaching the database through a link share one counter")
    func throughLink() async throws {
        try await withTemporaryDirectory { directory in
            let path = meterPath(in: directory)
            _ = try MeterStore(path: path)
            let link = directory.appendingPathComponent("link.db").path
            try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: path)
            let direct = try #require(ChangeCounter(besideDatabase: path))
            let linked = try #require(ChangeCounter(besideDatabase: link))
            let before = linked.value
            direct.raise()
            #expect(linked.value == before + 1)
            #expect(!FileManager.default.fileExists(atPath: link + "-changes"))
        }
    }

    @Test("a symbolic link in the counter's place is not followed: no counter")
    func refusesLink() async throws {
        try await withTemporaryDirectory { directory in
            let path = meterPath(in: directory)
            _ = try MeterStore(path: path)
            try FileManager.default.removeItem(atPath: path + "-changes")
            let elsewhere = directory.appendingPathComponent("elsewhere").path
            #expect(FileManager.default.createFile(atPath: elsewhere, contents: Data("keep".utf8)))
            try FileManager.default.createSymbolicLink(atPath: path + "-changes", withDestinationPath: elsewhere)
            #expect(ChangeCounter(besideDatabase: path) == nil)
            #expect(try Data(contentsOf: URL(fileURLWithPath: elsewhere)) == Data("keep".utf8))
        }
    }
}
