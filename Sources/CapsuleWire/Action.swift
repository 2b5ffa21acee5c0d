/// What a capability lets its holder do to a resource.
public enum Action: String, CaseIterable, Sendable, CustomStringConvertible {
    case read, write, execute, message, delete, admin

    /// Bit position in the token's action mask. Fixed by the v1 token format.
    public var bit: UInt8 {
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
        self.init(rawValue: asciiLowercased(name))
    }

    /// The action with this wire bit, if any.
    public init?(bit: UInt8) {
        guard let a = Action.allCases.first(where: { $0.bit == bit }) else { return nil }
        self = a
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
    public init?(mask: UInt8) {
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
    public var description: String { map { $0.rawValue }.joined(separator: ",") }

    /// Parses `read,write` (case-insensitive, spaces allowed). Nil names the bad entry.
    public static func parse(_ text: String) -> Result<ActionSet, ParseFailure> {
        // (Result rather than throws: the same code runs in Embedded Swift guests.)
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

/// ASCII-only lowercasing: enough for the fixed vocabularies here, and free of Unicode tables
/// so the module also builds as Embedded Swift.
func asciiLowercased(_ s: String) -> String {
    String(decoding: s.utf8.map { $0 >= 0x41 && $0 <= 0x5A ? $0 | 0x20 : $0 }, as: UTF8.self)
}

extension Substring {
    package func trimmingCharacters(in set: Character) -> String {
        String(String(self.drop(while: { $0 == set }).reversed()).drop(while: { $0 == set }).reversed())
    }
}

extension String {
    package func trimmingCharacters(in set: Character) -> String { self[...].trimmingCharacters(in: set) }
}
