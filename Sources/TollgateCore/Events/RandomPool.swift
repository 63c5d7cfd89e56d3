import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// Random bytes from the system's generator, drawn 4 KiB at a time and handed out in order: each event id takes ten,
/// and a system call for every eight of them (`SystemRandomNumberGenerator`) made two `getrandom` calls per request.
/// The bytes are the kernel's, as they would be one call at a time; none is handed out twice.
enum RandomPool {
    private struct Pool {
        var bytes = [UInt8](repeating: 0, count: 4096)
        var next = 4096
    }

    private static let pool = Mutex(Pool())

    /// `count` random bytes (at most 4 KiB).
    static func bytes(_ count: Int) -> [UInt8] {
        precondition(count <= 4096)
        return pool.withLock { pool in
            if pool.next + count > pool.bytes.count {
                pool.bytes.withUnsafeMutableBytes { fill($0) }
                pool.next = 0
            }
            defer { pool.next += count }
            return Array(pool.bytes[pool.next..<pool.next + count])
        }
    }

    /// `/dev/urandom`, opened once (the system's generator, as `SystemRandomNumberGenerator` reads it through
    /// `getrandom`, which Swift's Glibc module does not export); `-1` where it cannot be opened.
    private static let urandom: Int32 = {
        #if canImport(Darwin)
            -1
        #else
            open("/dev/urandom", O_RDONLY | O_CLOEXEC)
        #endif
    }()

    /// Fills `buffer` from the system's generator.
    private static func fill(_ buffer: UnsafeMutableRawBufferPointer) {
        #if canImport(Darwin)
            arc4random_buf(buffer.baseAddress!, buffer.count)
        #else
            var filled = 0
            while urandom >= 0 && filled < buffer.count {
                let got = read(urandom, buffer.baseAddress! + filled, buffer.count - filled)
                if got > 0 {
                    filled += got
                } else if got == 0 || errno != EINTR {
                    break
                }
            }
            // No /dev/urandom to read: the standard library's generator, eight bytes at a time.
            var generator = SystemRandomNumberGenerator()
            while filled < buffer.count {
                let random = generator.next() as UInt64
                for shift in stride(from: 0, to: 64, by: 8) where filled < buffer.count {
                    buffer[filled] = UInt8(truncatingIfNeeded: random >> shift)
                    filled += 1
                }
            }
        #endif
    }
}
