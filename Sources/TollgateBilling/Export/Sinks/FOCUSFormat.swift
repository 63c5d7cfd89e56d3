import Foundation
import TollgateCore
import TollgateStore

/// The `focus` file sink's rows: a FOCUS 1.x-style cost and usage CSV (FinOps Open Cost and Usage Specification), one
/// rated line per row, cells written by ``CSV`` (RFC 4180 quoting, formulas neutralised), rows ending in `\n`.
///
/// - Costs: `BilledCost`, `EffectiveCost`, `ListCost` and `ContractedCost` are all the line's exact amount. Tollgate
///   rates each customer at the price that customer pays (its price book or plan), so there is no separate list or
///   negotiated price, and rounding to the currency's minor unit happens on the invoice, not on a line: the exact
///   amounts sum to the period's revenue; `x_AmountDue` has the rounded amount. Decimals are plain (no exponent).
/// - Periods: `ChargePeriodStart`/`End` is the charge period (end exclusive); `BillingPeriodStart`/`End` is the
///   month the line was billed in: the charge period for an original line, the month the correction was staged in
///   for a correction (`ChargeClass` `Correction`, carrying only the difference, the original charge period kept).
///   Times are UTC `YYYY-MM-DDTHH:MM:SSZ`.
/// - `ChargeCategory`: `Usage` for usage and plan charges, `Purchase` for a base fee, `Adjustment` for a discount or
///   a minimum true-up. `ChargeFrequency`: `Usage-Based` for usage and charges, `Recurring` for the rest.
/// - Quantities: a usage line consumed and is priced in `Tokens` (all token classes summed; its unit price differs by
///   class, so `ListUnitPrice` is null); a plan charge in its meter's unit (`Requests`, `Tokens`, `Searches`), with
///   `ListUnitPrice` when a single price applies to every unit; a base fee is 1 `Months` at its amount; adjustments
///   have no quantities.
/// - `ServiceName` `LLM inference`, `ServiceCategory` `AI and Machine Learning`, `ResourceId` the model,
///   `BillingAccountId` and `SubAccountId` the customer (Tollgate's id), `InvoiceIssuerName` and `ProviderName`
///   `Tollgate`. Custom columns: `x_IdempotencyKey`, `x_Meter`, `x_Version`, `x_EventCount`, `x_ExternalCustomerId`,
///   `x_AmountDue`.
/// - Null: FOCUS wants missing values null, never 0 or a made-up text; in CSV a null is an empty cell, which is what
///   is written (no value of this file is ever an empty string).
struct FOCUSFormat: FileLineFormat {
    /// The header's columns, in order.
    static let columns = [
        "BilledCost", "EffectiveCost", "ListCost", "ContractedCost", "BillingCurrency", "BillingAccountId", "BillingPeriodStart",
        "BillingPeriodEnd", "ChargePeriodStart", "ChargePeriodEnd", "ChargeCategory", "ChargeClass", "ChargeDescription", "ChargeFrequency",
        "ConsumedQuantity", "ConsumedUnit", "PricingQuantity", "PricingUnit", "PricingCategory", "ListUnitPrice", "ContractedUnitPrice",
        "ServiceName", "ServiceCategory", "ResourceId", "SubAccountId", "InvoiceIssuerName", "ProviderName", "x_IdempotencyKey", "x_Meter",
        "x_Version", "x_EventCount", "x_ExternalCustomerId", "x_AmountDue",
    ]

    var header: String? { Self.columns.joined(separator: ",") }

    func row(_ outbound: OutboundLine) -> String {
        let line = outbound.line
        var billing = (startMs: line.periodStartMs, endMs: line.periodEndMs)
        if line.isCorrection, let month = Timestamps.month(Timestamps.monthName(of: line.createdMs)) { billing = month }
        let amount = line.amount.description
        let quantities = Self.quantities(line)
        let unitPrice = Self.listUnitPrice(line)
        let cells: [String?] = [
            amount, amount, amount, amount, line.currency, line.customer, FileCells.time(billing.startMs), FileCells.time(billing.endMs),
            FileCells.time(line.periodStartMs), FileCells.time(line.periodEndMs), Self.category(line.kind),
            line.isCorrection ? "Correction" : nil, line.description, line.kind == .usage || line.kind == .charge ? "Usage-Based" : "Recurring",
            quantities.consumed.map { String($0.quantity) }, quantities.consumed?.unit, quantities.pricing.map { String($0.quantity) },
            quantities.pricing?.unit, Self.category(line.kind) == "Adjustment" ? nil : "Standard", unitPrice, unitPrice, "LLM inference",
            "AI and Machine Learning", line.model, line.customer, "Tollgate", "Tollgate", line.key, line.meter, String(line.version),
            String(line.eventIDs.count), outbound.externalCustomerID, line.amountDue.description,
        ]
        return cells.map { CSV.cell($0 ?? "") }.joined(separator: ",") + "\n"
    }

    func keys(in bytes: [UInt8]) throws(FileFormatError) -> Set<String> {
        try CSVRecords.keys(in: bytes, columns: Self.columns, keyColumn: "x_IdempotencyKey")
    }

    /// FOCUS's ChargeCategory of a line kind.
    static func category(_ kind: RatedLine.Kind) -> String {
        switch kind {
        case .baseFee: "Purchase"
        case .discount, .minimum: "Adjustment"
        case .usage, .charge: "Usage"
        }
    }

    /// What a line consumed and what it is priced on, each a quantity in a unit; `nil` when FOCUS wants null.
    static func quantities(_ line: ExportLine) -> (consumed: (quantity: Int, unit: String)?, pricing: (quantity: Int, unit: String)?) {
        switch line.kind {
        case .usage:
            let tokens = (quantity: line.usage.totalTokens, unit: "Tokens")
            return (tokens, tokens)
        case .charge:
            let units = (quantity: line.quantity, unit: chargeUnit(line.meter))
            return (units, units)
        case .baseFee: return (nil, (line.quantity, "Months"))
        case .discount, .minimum: return (nil, nil)
        }
    }

    /// The unit of a charge's meter (`charge:API calls|requests` → `Requests`).
    static func chargeUnit(_ meter: String) -> String {
        guard let bar = meter.lastIndex(of: "|") else { return "Units" }
        switch meter[meter.index(after: bar)...] {
        case "requests": return "Requests"
        case "web_search_requests": return "Searches"
        case "tokens", "input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens", "reasoning_tokens": return "Tokens"
        default: return "Units"
        }
    }

    /// The one price every unit of the line was billed at, when there is one: a base fee's amount; a charge with a
    /// single bracket covering all its units at a price that makes its amount exactly (no allowance, no flat fee, no
    /// per-thousand pricing); `nil` otherwise (usage lines: each token class has its own price).
    static func listUnitPrice(_ line: ExportLine) -> String? {
        switch line.kind {
        case .baseFee:
            return line.quantity == 1 ? line.amount.description : nil
        case .charge:
            guard line.quantity > 0,
                let brackets = try? JSONSerialization.jsonObject(with: Data(line.bracketsJSON.utf8)) as? [[String: Any]]
            else { return nil }
            let billed = brackets.filter { (($0["quantity"] as? Int) ?? 0) != 0 }
            guard billed.count == 1, let bracket = billed.first, (bracket["quantity"] as? Int) == line.quantity,
                bracket["packages"] == nil, (bracket["label"] as? String) != "included", let text = bracket["unit_price"] as? String,
                let price = Money(text),
                price.times(line.quantity) == line.amount
            else { return nil }
            return price.description
        case .usage, .discount, .minimum:
            return nil
        }
    }
}
