import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// A number raised after every change to what a key's principal is made of (keys, customers, teams, credit grants,
/// limits), so that principals can be kept in memory and still follow every change at once.
///
/// On SQLite it is shared by every process that opens the meter: eight bytes in a file beside the database
/// (`meter.db-changes`), mapped into memory, so that reading it costs a load, not a query, and a key revoked or a
/// first grant made by the CLI applies to the proxy's next request. Within one process (PostgreSQL replicas, whose
/// changes made elsewhere arrive through the principals' time limit instead) it lives in memory only.
///
/// Readers take the value *before* reading what they keep: a change committed after that raises it, so what they
/// read is never kept past the change, whichever of the two came first.
final class ChangeCounter: Sendable {
    private nonisolated(unsafe) let word: UnsafeMutablePointer<Atomic<UInt64>>
    /// Whether `word` is the mapped file.
    private let shared: Bool

    /// The current value.
    var value: UInt64 { word.pointee.load(ordering: .acquiring) }

    /// Records a change (after it is committed).
    func raise() {
        word.pointee.wrappingAdd(1, ordering: .releasing)
    }

    /// A counter in this process's memory only.
    init() {
        shared = false
        word = .allocate(capacity: 1)
        word.initialize(to: Atomic(0))
    }

    /// The counter shared by every process that opens the SQLite file at `databasePath`; `nil` when its file cannot be
    /// opened for writing and mapped (the caller then keeps nothing). Made, the file takes the database's permissions
    /// and, made by root, its owner, as SQLite's own `-wal` and `-shm` files do: whoever can write the meter can raise
    /// the counter. The database's path is resolved first, so that processes reaching it through different links
    /// share one counter.
    init?(besideDatabase databasePath: String) {
        var resolved = databasePath
        if let real = realpath(databasePath, nil) {
            resolved = String(cString: real)
            free(real)
        }
        let path = resolved + "-changes"
        var database = stat()
        let known = stat(resolved, &database) == 0
        let mode = known ? mode_t(database.st_mode) & 0o666 : 0o644
        var fd = open(path, O_RDWR | O_CLOEXEC | O_NOFOLLOW)
        var made = false
        if fd < 0 && errno == ENOENT {
            fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode)
            made = fd >= 0
            // Another process made it meanwhile.
            if fd < 0 && errno == EEXIST { fd = open(path, O_RDWR | O_CLOEXEC | O_NOFOLLOW) }
        }
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var file = stat()
        guard fstat(fd, &file) == 0, file.st_mode & S_IFMT == S_IFREG else { return nil }
        if made {
            // The umask narrowed the mode given to open.
            _ = fchmod(fd, mode)
            if known, geteuid() == 0, database.st_uid != 0 { _ = fchown(fd, database.st_uid, database.st_gid) }
        }
        if file.st_size < 8, ftruncate(fd, 8) != 0 { return nil }
        let mapped = mmap(nil, 8, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)
        guard let mapped, mapped != MAP_FAILED else { return nil }
        shared = true
        word = mapped.bindMemory(to: Atomic<UInt64>.self, capacity: 1)
    }

    deinit {
        if shared {
            munmap(UnsafeMutableRawPointer(word), 8)
        } else {
            word.deinitialize(count: 1)
            word.deallocate()
        }
    }
}
