import TollgateCore
import TollgateStore

/// The `csv` file sink's rows: one rated line per row, under a header, RFC 4180 quoting (a cell with a comma, quote or
/// line break is quoted, quotes doubled) and formulas neutralised (``CSV``: a text cell starting with `=`, `+`, `-`,
/// `@`, tab or CR gets a `'` in front; numbers stay as they are), rows ending in `\n`.
///
/// Columns: `key` (the idempotency key), `customer` (Tollgate's id), `external_customer_id` (the customer's id in the
/// sink's id system, empty when none), `period` (the charge period, `2026-11`), `period_start`/`period_end` (the
/// charge period, end exclusive), `meter`, `kind`, `description`, `model`, `version` (0, or 1 … for a correction),
/// `correction` (`true`/`false`), `original_period` (the period a correction corrects; empty otherwise), `quantity`,
/// the token classes, `amount` (exact decimal), `amount_due` (rounded half to even to the currency's minor unit),
/// `currency`, `brackets` (the tier breakdown as a JSON array), `event_count`, `event_ids` (space separated),
/// `usage_time`. Times are UTC `YYYY-MM-DDTHH:MM:SSZ`; decimals are plain (no exponent); a missing value is empty.
struct CSVLineFormat: FileLineFormat {
    /// The header's columns, in order.
    static let columns = [
        "key", "customer", "external_customer_id", "period", "period_start", "period_end", "meter", "kind", "description", "model",
        "version", "correction", "original_period", "quantity", "input_tokens", "cache_read_tokens", "cache_write_tokens", "output_tokens",
        "reasoning_tokens", "amount", "amount_due", "currency", "brackets", "event_count", "event_ids", "usage_time",
    ]

    var header: String? { Self.columns.joined(separator: ",") }

    func row(_ outbound: OutboundLine) -> String {
        let line = outbound.line
        let cells: [String] = [
            line.key, line.customer, outbound.externalCustomerID ?? "", line.period, FileCells.time(line.periodStartMs),
            FileCells.time(line.periodEndMs), line.meter, line.kind.rawValue, line.description, line.model ?? "", String(line.version),
            line.isCorrection ? "true" : "false", line.isCorrection ? line.period : "", String(line.quantity), String(line.usage.inputTokens),
            String(line.usage.cacheReadTokens), String(line.usage.cacheWriteTokens), String(line.usage.outputTokens),
            String(line.usage.reasoningTokens), line.amount.description, line.amountDue.description, line.currency,
            FileCells.bracketsArray(line.bracketsJSON), String(line.eventIDs.count), line.eventIDs.joined(separator: " "),
            FileCells.time(line.usageMs),
        ]
        return cells.map(CSV.cell).joined(separator: ",") + "\n"
    }

    func keys(in bytes: [UInt8]) throws(FileFormatError) -> Set<String> {
        try CSVRecords.keys(in: bytes, columns: Self.columns, keyColumn: "key")
    }
}

/// Reads RFC 4180 CSV back: records of cells, quoted cells with doubled quotes and line breaks inside.
enum CSVRecords {
    /// The records of a CSV text (`\n` or `\r\n` line ends; a blank line is an empty record, left out).
    static func parse(_ bytes: [UInt8]) -> [[String]] {
        let quote = UInt8(ascii: "\""), comma = UInt8(ascii: ","), newline = UInt8(ascii: "\n"), carriageReturn = UInt8(ascii: "\r")
        var records: [[String]] = []
        var record: [String] = []
        var cell: [UInt8] = []
        var quoted = false
        var index = 0
        func endRecord() {
            record.append(String(decoding: cell, as: UTF8.self))
            if record != [""] { records.append(record) }
            record = []
            cell = []
        }
        while index < bytes.count {
            let byte = bytes[index]
            index += 1
            if quoted {
                if byte == quote {
                    if index < bytes.count, bytes[index] == quote {
                        cell.append(quote)
                        index += 1
                    } else {
                        quoted = false
                    }
                } else {
                    cell.append(byte)
                }
                continue
            }
            switch byte {
            case quote: quoted = true
            case comma:
                record.append(String(decoding: cell, as: UTF8.self))
                cell = []
            case newline: endRecord()
            case carriageReturn:
                if index < bytes.count, bytes[index] == newline { index += 1 }
                endRecord()
            default: cell.append(byte)
            }
        }
        if !cell.isEmpty || !record.isEmpty { endRecord() }
        return records
    }

    /// The values of `keyColumn` in a CSV file whose header is `columns`; throws when the header differs or a row
    /// has another number of cells.
    static func keys(in bytes: [UInt8], columns: [String], keyColumn: String) throws(FileFormatError) -> Set<String> {
        let records = parse(bytes)
        guard let header = records.first, header == columns else {
            throw FileFormatError(message: "its first line is not the header \(columns.prefix(3).joined(separator: ",")),…")
        }
        guard let column = columns.firstIndex(of: keyColumn) else { return [] }
        var keys = Set<String>()
        for (number, record) in records.dropFirst().enumerated() {
            guard record.count == columns.count else {
                throw FileFormatError(message: "row \(number + 1) has \(record.count) cells, not \(columns.count)")
            }
            keys.insert(record[column])
        }
        return keys
    }
}
