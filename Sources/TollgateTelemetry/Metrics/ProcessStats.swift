import Foundation

/// The process's own figures under their standard Prometheus names (`process_*`), read from /proc at scrape time.
struct ProcessStats {
    var residentBytes: Double?
    var openDescriptors: Double?
    var cpuSeconds: Double?
    var startTimeSeconds: Double?

    /// Reads /proc/self; a figure the system does not offer stays `nil` (and is not exposed).
    static func read() -> ProcessStats {
        var stats = ProcessStats()
        let pageSize = Double(sysconf(Int32(_SC_PAGESIZE)))
        let ticks = Double(sysconf(Int32(_SC_CLK_TCK)))
        if let statm = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) {
            let fields = statm.split(separator: " ")
            if fields.count > 1, let pages = Double(fields[1]) { stats.residentBytes = pages * pageSize }
        }
        if let entries = try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd") {
            stats.openDescriptors = Double(entries.count)
        }
        // /proc/self/stat: the fields after the command's closing parenthesis; utime and stime are the 12th and 13th of
        // those, starttime (ticks after boot) the 20th.
        if let stat = try? String(contentsOfFile: "/proc/self/stat", encoding: .utf8), let close = stat.lastIndex(of: ")") {
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            if fields.count > 19, let user = Double(fields[11]), let system = Double(fields[12]), let start = Double(fields[19]), ticks > 0 {
                stats.cpuSeconds = (user + system) / ticks
                if let boot = bootTime() { stats.startTimeSeconds = boot + start / ticks }
            }
        }
        return stats
    }

    /// The system's boot time in seconds since 1970 (`btime` in /proc/stat).
    private static func bootTime() -> Double? {
        guard let stat = try? String(contentsOfFile: "/proc/stat", encoding: .utf8) else { return nil }
        for line in stat.split(separator: "\n") where line.hasPrefix("btime ") {
            return Double(line.dropFirst(6).trimmingCharacters(in: .whitespaces))
        }
        return nil
    }
}
