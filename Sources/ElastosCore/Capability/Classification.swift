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

