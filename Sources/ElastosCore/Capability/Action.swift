/// What a capability lets its holder do to a resource.
public enum Action: String, CaseIterable, Sendable, Codable, CustomStringConvertible {
    case read, write, execute, message, delete, admin

    /// Bit position in the token's action mask. Fixed by the v1 token format.
    var bit: UInt8 {
        switch self {
        case .read: 0
        case .write: 1
        case .execute: 2
        case .message: 3
        case .delete: 4
        case .admin: 5
        }
    }

    public var description: String { rawValue }

    /// Parses an action name, case-insensitively (`read`, `Write`, …).
    public init?(name: String) {
        self.init(rawValue: name.lowercased())
    }
}

/// A non-empty set of actions. `admin` implies nothing else: every action is granted explicitly.
public struct ActionSet: Hashable, Sendable, Sequence, CustomStringConvertible {
    public private(set) var mask: UInt8

    public static let validMask: UInt8 = 0b0011_1111

    public init(_ actions: some Sequence<Action>) {
        mask = 0
        for a in actions { mask |= 1 << a.bit }
    }

    /// From the wire; nil if empty or if an unknown bit is set.
    init?(mask: UInt8) {
        guard mask != 0, mask & ~Self.validMask == 0 else { return nil }
        self.mask = mask
    }

    public func contains(_ action: Action) -> Bool { mask & (1 << action.bit) != 0 }
    public func isSubset(of other: ActionSet) -> Bool { mask & ~other.mask == 0 }
    public var isEmpty: Bool { mask == 0 }

    public func makeIterator() -> IndexingIterator<[Action]> {
        Action.allCases.filter { contains($0) }.makeIterator()
    }

    /// Comma-separated names in canonical order: `read,write`.
    public var description: String { map(\.rawValue).joined(separator: ",") }

    /// Parses `read,write` (case-insensitive, spaces allowed). Nil names the bad entry.
    public static func parse(_ text: String) -> Result<ActionSet, ParseFailure> {
        var actions: [Action] = []
        for part in text.split(separator: ",", omittingEmptySubsequences: false) {
            let name = part.trimmingCharacters(in: " ")
            guard let a = Action(name: name) else { return .failure(ParseFailure(entry: name)) }
            actions.append(a)
        }
        let set = ActionSet(actions)
        return set.isEmpty ? .failure(ParseFailure(entry: text)) : .success(set)
    }

    public struct ParseFailure: Error, Equatable, CustomStringConvertible {
        public let entry: String
        public var description: String {
            "unknown action '\(entry)' (expected read, write, execute, message, delete or admin)"
        }
    }
}

/// Ceiling on the sensitivity of data a token may touch (check 12). Providers label each resource.
public enum Classification: UInt8, CaseIterable, Comparable, Sendable, Codable, CustomStringConvertible {
    case `public` = 0, `internal` = 1, confidential = 2, secret = 3

    public static func < (a: Classification, b: Classification) -> Bool { a.rawValue < b.rawValue }
    public var description: String {
        switch self {
        case .public: "public"
        case .internal: "internal"
        case .confidential: "confidential"
        case .secret: "secret"
        }
    }

    public init?(name: String) {
        guard let c = Classification.allCases.first(where: { $0.description == name.lowercased() }) else { return nil }
        self = c
    }
}

extension Substring {
    func trimmingCharacters(in set: Character) -> String {
        String(self.drop(while: { $0 == set }).reversed().drop(while: { $0 == set }).reversed())
    }
}

extension String {
    func trimmingCharacters(in set: Character) -> String { self[...].trimmingCharacters(in: set) }
}
