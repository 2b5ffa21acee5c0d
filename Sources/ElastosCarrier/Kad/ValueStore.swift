// Our signed value records (SignedDHTRecord), as a server stores them: the best per key.
public import CarrierWire

/// Signed value records (our namespace only), the best one per key, bounded in count.
public struct ValueStore: Sendable {
    public let maxRecords: Int
    private var records: [String: SignedDHTRecord] = [:]

    public init(maxRecords: Int = 10_000) { self.maxRecords = max(1, maxRecords) }

    public enum Outcome: Equatable, Sendable { case stored, keptExisting, full }

    /// Keeps `record` if it supersedes what is stored for its key (the caller has validated it).
    @discardableResult
    public mutating func put(_ record: SignedDHTRecord, now: UInt64) -> Outcome {
        if let existing = records[record.key], existing.expiresAt > now, !record.supersedes(existing) { return .keptExisting }
        if records[record.key] == nil, records.count >= maxRecords {
            records = records.filter { $0.value.expiresAt > now }
            guard records.count < maxRecords else { return .full }
        }
        records[record.key] = record
        return .stored
    }

    public func get(_ key: String, now: UInt64) -> SignedDHTRecord? {
        guard let record = records[key], record.expiresAt > now else { return nil }
        return record
    }

    public var count: Int { records.count }
}
