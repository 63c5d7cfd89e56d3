import Foundation
import Testing

@testable import TollgateConfiguration

/// What a reload tick compares: a plain `stat` of each watched file and folder.
@Suite("Pricing reloader")
struct PricingReloaderTests {
    @Test("a file's stamp changes when it is rewritten, replaced, created or removed, and not otherwise")
    func stamps() throws {
        try withTemporaryDirectory { directory in
            let folder = directory.appendingPathComponent("price-books").path
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            let book = folder + "/standard.yaml"
            try Data("markup: \"1.30\"\n".utf8).write(to: URL(fileURLWithPath: book))
            let watched = [folder, book]
            let first = PricingReloader.fingerprint(watched)
            #expect(first.allSatisfy { $0.exists })
            #expect(PricingReloader.fingerprint(watched) == first, "nothing changed, nothing differs")

            // The same size, a new modification time (to the nanosecond: several edits may come within a second).
            try Data("markup: \"2.00\"\n".utf8).write(to: URL(fileURLWithPath: book))
            try setModified(book, seconds: 1_700_000_000, nanoseconds: 1)
            let rewritten = PricingReloader.fingerprint(watched)
            #expect(rewritten != first)
            try setModified(book, seconds: 1_700_000_000, nanoseconds: 2)
            #expect(PricingReloader.fingerprint(watched) != rewritten)

            // Replaced by a rename with the same size and time: a new inode.
            let before = PricingReloader.fingerprint(watched)
            let staged = folder + "/.standard.yaml.tmp"
            try Data("markup: \"3.00\"\n".utf8).write(to: URL(fileURLWithPath: staged))
            try setModified(staged, seconds: 1_700_000_000, nanoseconds: 2)
            #expect(rename(staged, book) == 0)
            #expect(PricingReloader.fingerprint([book]) != [before[1]])

            // A file created in a watched folder: the folder's stamp changes (its listing, and so its time).
            let folderBefore = PricingReloader.fingerprint([folder])
            try setModified(folder, seconds: 1_700_000_000, nanoseconds: 0)
            let folderSet = PricingReloader.fingerprint([folder])
            #expect(folderSet != folderBefore)
            try Data("markup: \"1.10\"\n".utf8).write(to: URL(fileURLWithPath: folder + "/partner.yaml"))
            #expect(PricingReloader.fingerprint([folder]) != folderSet)

            // Removed: no longer exists.
            try FileManager.default.removeItem(atPath: book)
            #expect(PricingReloader.fingerprint([book]) == [PricingReloader.FileStamp(path: book)])
        }
    }

    @Test("a change is acted on once it has held for one more look, never while the file is still being written")
    func settling() {
        func stamp(_ size: Int64, _ nanoseconds: Int) -> [PricingReloader.FileStamp] {
            [PricingReloader.FileStamp(path: "/c.yaml", exists: true, size: size, modifiedSeconds: 1, modifiedNanoseconds: nanoseconds)]
        }
        func looks(from read: [PricingReloader.FileStamp], _ stamps: [[PricingReloader.FileStamp]]) -> [Bool] {
            var watch = PricingReloader.ChangeWatch(read: read)
            return stamps.map { watch.settled($0) }
        }
        // Unchanged; truncated (seen, not read); still being written; written; the same at a second look: read.
        #expect(
            looks(from: stamp(100, 0), [stamp(100, 0), stamp(0, 1), stamp(60, 2), stamp(120, 3), stamp(120, 3)]) == [
                false, false, false, false, true,
            ])
        // Changed, then back as it was read before the next look: nothing to read.
        #expect(looks(from: stamp(100, 0), [stamp(0, 1), stamp(100, 0), stamp(100, 0)]) == [false, false, false])
    }

    private func setModified(_ path: String, seconds: Int, nanoseconds: Int) throws {
        var times = [
            timespec(tv_sec: seconds, tv_nsec: nanoseconds), timespec(tv_sec: seconds, tv_nsec: nanoseconds),
        ]
        #expect(utimensat(AT_FDCWD, path, &times, 0) == 0)
    }
}
