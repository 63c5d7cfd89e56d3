import Foundation
import TollgateCore
import TollgateStore

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// Rated lines written to a file, exactly once: `csv` (``CSVLineFormat``), `jsonl` (``JSONLinesFormat``) or `focus`
/// (``FOCUSFormat``), at the sink's `path`.
///
/// - **Which file.** `{period}` in the path is replaced by the line's charge period (`exports/lines-{period}.csv` →
///   `exports/lines-2026-11.csv`). A correction goes to the same file as the line it corrects — the file of its
///   charge period — as a row of its own (version ≥ 1, the correction columns set, only the difference): a period's
///   file holds everything ever billed for that period, and its amount column sums to the period's current total.
///   The FOCUS format still tells when a correction was billed (its `BillingPeriodStart`/`End`). Folders are created
///   as needed.
/// - **Exactly once.** Every row carries the line's idempotency key. A send reads the file, keeps what is there byte
///   for byte, adds the rows whose key is not in it yet, writes the whole to a temporary file in the same folder
///   (`.NAME.tollgate-UUID.tmp`), fsyncs it, renames it over the file and fsyncs the folder. A crash at any moment
///   leaves the old file or the new one, never a half-written one; a line sent again (a retry after a crash between
///   the rename and the outbox update) is found by its key and not written twice. Writers take an exclusive `flock`
///   on the folder, so two exports (serve's schedule and `tollgate export run`) never interleave; a temporary file
///   found while holding the lock is a crashed writer's leftover and is removed.
/// - **Outcomes.** Written, or already in the file: `.sent`. A file that cannot be written (no space left, no
///   permission, a folder in the way, the lock held for long): `.retry` with the system's reason. The path is a
///   folder, or the file holds something else (another header, a line that is not a Tollgate row): `.rejected`, so
///   nothing is appended to a file Tollgate did not write.
/// - **Customer ids.** Files carry Tollgate's customer id; the customer's id in the sink's id system
///   (`customer_id_system`, e.g. `stripe`) fills the external customer id column when the customer has one.
struct FileSink: BillingSink {
    let settings: SinkSettings
    /// How a line becomes a row, and how the keys of a file are read back.
    let format: any FileLineFormat

    /// A file sink writing the format the settings' kind names.
    init(settings: SinkSettings) {
        self.settings = settings
        switch settings.kind {
        case .jsonl: format = JSONLinesFormat()
        case .focus: format = FOCUSFormat()
        default: format = CSVLineFormat()
        }
    }

    var batchLimit: Int { 10_000 }
    var needsCustomerID: Bool { false }

    /// Appends the lines not yet in their files; every line of one file shares that file's outcome.
    func send(_ lines: [OutboundLine]) async -> [SendOutcome] {
        guard let template = settings.path, !template.isEmpty else {
            return lines.map { _ in .rejected("sink '\(settings.name)' has no path to write to") }
        }
        var paths: [String] = []
        var indices: [String: [Int]] = [:]
        for (index, outbound) in lines.enumerated() {
            let path = Self.path(template, period: outbound.line.period)
            if indices[path] == nil { paths.append(path) }
            indices[path, default: []].append(index)
        }
        var outcomes = [SendOutcome](repeating: .retry("not written", retryAfterSeconds: nil), count: lines.count)
        for path in paths {
            let group = indices[path] ?? []
            let outcome = await append(group.map { lines[$0] }, to: path)
            for index in group { outcomes[index] = outcome }
        }
        return outcomes
    }

    /// The file a line of `period` goes to.
    static func path(_ template: String, period: String) -> String {
        NSString(string: template.replacingOccurrences(of: "{period}", with: period)).expandingTildeInPath
    }

    /// Adds the lines whose keys are not in the file yet, atomically.
    func append(_ lines: [OutboundLine], to path: String) async -> SendOutcome {
        do throws(FileWriteError) {
            let target = try FileTarget(path)
            try target.createFolder()
            let lock = try await target.lockFolder()
            defer { lock.release() }
            target.removeLeftovers()
            var content: [UInt8] = []
            var present = Set<String>()
            if let existing = try target.contents(), !existing.bytes.isEmpty {
                do throws(FileFormatError) {
                    present = try format.keys(in: existing.bytes)
                } catch {
                    throw .rejected("\(path) was not written by this sink (\(error.message)): move it away or change the sink's path")
                }
                content = existing.bytes
                if content.last != UInt8(ascii: "\n") { content.append(UInt8(ascii: "\n")) }
            } else if let header = format.header {
                content = Array((header + "\n").utf8)
            }
            var added = 0
            for outbound in lines where !present.contains(outbound.line.key) {
                present.insert(outbound.line.key)
                content += Array(format.row(outbound).utf8)
                added += 1
            }
            if added > 0 { try target.replace(with: content) }
            return .sent
        } catch {
            switch error {
            case .retry(let reason): return .retry(reason, retryAfterSeconds: nil)
            case .rejected(let reason): return .rejected(reason)
            }
        }
    }
}

/// One wire format of a file sink.
protocol FileLineFormat: Sendable {
    /// The first line of a new file, without its line break (`nil`: none).
    var header: String? { get }
    /// One line as a row, ending with its line break.
    func row(_ outbound: OutboundLine) -> String
    /// The idempotency keys of the rows of a file this format wrote; throws when the file is something else.
    func keys(in bytes: [UInt8]) throws(FileFormatError) -> Set<String>
}

/// A file that is not in the sink's format.
struct FileFormatError: Error {
    /// What is wrong with it (`the header differs`).
    var message: String
}

/// Why a file could not be written: worth another try later, or not until someone changes something.
enum FileWriteError: Error {
    case retry(String)
    case rejected(String)
}

/// Cells shared by the file formats.
enum FileCells {
    /// `2026-11-21T10:00:00Z`: UTC, whole seconds (rounded down).
    static func time(_ milliseconds: Int64) -> String { Timestamps.iso8601(milliseconds, fraction: .wholeSeconds) }

    /// The line's brackets when they are a JSON array, else `[]`.
    static func bracketsArray(_ text: String) -> String {
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        guard (try? JSONSerialization.jsonObject(with: Data(trimmed.utf8))) is [Any] else { return "[]" }
        return trimmed
    }
}

/// The file a send writes, and the plain POSIX calls that write it durably.
struct FileTarget {
    /// The file, as configured (for messages).
    let path: String
    /// Its folder and name.
    let folder: String
    let name: String

    /// A target for `path`; a path naming a folder is refused.
    init(_ path: String) throws(FileWriteError) {
        self.path = path
        guard !path.hasSuffix("/") else { throw .rejected("\(path) names a folder, not a file: set the sink's path to a file name") }
        let url = URL(fileURLWithPath: path)
        folder = url.deletingLastPathComponent().path
        name = url.lastPathComponent
        var info = stat()
        if stat(path, &info) == 0, (info.st_mode & S_IFMT) == S_IFDIR {
            throw .rejected("\(path) is a folder, not a file: set the sink's path to a file name")
        }
    }

    /// The system's reason for the last failed call.
    static func reason() -> String { String(cString: strerror(errno)) }

    /// Creates the folder and its parents (`mkdir -p`), with the system's reason when one cannot be made.
    func createFolder() throws(FileWriteError) {
        var current = ""
        for component in folder.split(separator: "/") {
            current += "/" + component
            guard mkdir(current, 0o755) != 0 else { continue }
            guard errno == EEXIST else { throw .retry("cannot create the folder \(current) for \(path): \(Self.reason())") }
            var info = stat()
            guard stat(current, &info) == 0, (info.st_mode & S_IFMT) == S_IFDIR else {
                throw .retry("cannot create the folder \(current) for \(path): a file is in the way")
            }
        }
    }

    /// Holds an exclusive lock on the folder (waits up to about ten seconds for another writer to finish).
    func lockFolder() async throws(FileWriteError) -> FolderLock {
        let descriptor = open(folder, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { throw .retry("cannot open the folder \(folder) for \(path): \(Self.reason())") }
        for _ in 0..<200 {
            if flock(descriptor, LOCK_EX | LOCK_NB) == 0 { return FolderLock(descriptor: descriptor) }
            let code = errno
            // A file system without flock: write without the lock rather than never.
            guard code == EWOULDBLOCK || code == EAGAIN || code == EINTR else { return FolderLock(descriptor: descriptor) }
            do {
                try await Task.sleep(for: .milliseconds(50))
            } catch {
                close(descriptor)
                throw .retry("the export of \(path) was cancelled")
            }
        }
        close(descriptor)
        throw .retry("\(folder) is locked by another export writing there")
    }

    /// The prefix of this file's temporary files.
    var temporaryPrefix: String { ".\(name).tollgate-" }

    /// Removes temporary files of this file left by a writer that crashed (called with the lock held).
    func removeLeftovers() {
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: folder) else { return }
        for entry in entries where entry.hasPrefix(temporaryPrefix) && entry.hasSuffix(".tmp") {
            unlink(folder + "/" + entry)
        }
    }

    /// The file's bytes and permissions; `nil` when there is no file.
    func contents() throws(FileWriteError) -> (bytes: [UInt8], mode: mode_t)? {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else {
            if errno == ENOENT { return nil }
            throw .retry("cannot read \(path): \(Self.reason())")
        }
        defer { close(descriptor) }
        var info = stat()
        guard fstat(descriptor, &info) == 0 else { throw .retry("cannot read \(path): \(Self.reason())") }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(Int(info.st_size))
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let count = buffer.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                throw .retry("cannot read \(path): \(Self.reason())")
            }
            if count == 0 { break }
            bytes += buffer[0..<count]
        }
        return (bytes, info.st_mode & 0o7777)
    }

    /// Replaces the file with `bytes`: a temporary file in the same folder, written, fsynced, renamed over the file,
    /// then the folder fsynced. On failure the temporary file is removed and the file is as it was.
    func replace(with bytes: [UInt8]) throws(FileWriteError) {
        var mode: mode_t = 0o644
        var info = stat()
        if stat(path, &info) == 0 { mode = info.st_mode & 0o7777 }
        let temporary = folder + "/" + temporaryPrefix + UUID().uuidString + ".tmp"
        let descriptor = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode)
        guard descriptor >= 0 else { throw .retry("cannot write \(path): \(Self.reason())") }
        var renamed = false
        var isOpen = true
        defer {
            if isOpen { close(descriptor) }
            if !renamed { unlink(temporary) }
        }
        var offset = 0
        while offset < bytes.count {
            let written = bytes.withUnsafeBytes { buffer in write(descriptor, buffer.baseAddress.map { $0 + offset }, buffer.count - offset) }
            if written < 0 {
                if errno == EINTR { continue }
                throw .retry("cannot write \(path): \(Self.reason())")
            }
            offset += written
        }
        _ = fchmod(descriptor, mode)
        guard fsync(descriptor) == 0 else { throw .retry("cannot write \(path): \(Self.reason())") }
        isOpen = false
        guard close(descriptor) == 0 else { throw .retry("cannot write \(path): \(Self.reason())") }
        guard rename(temporary, path) == 0 else { throw .retry("cannot replace \(path): \(Self.reason())") }
        renamed = true
        let folderDescriptor = open(folder, O_RDONLY | O_CLOEXEC)
        if folderDescriptor >= 0 {
            _ = fsync(folderDescriptor)
            close(folderDescriptor)
        }
    }
}

/// An exclusive `flock` on a folder, held until released.
struct FolderLock {
    let descriptor: Int32

    /// Releases the lock.
    func release() {
        _ = flock(descriptor, LOCK_UN)
        close(descriptor)
    }
}
