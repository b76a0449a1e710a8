/// A domain's SPF policy with every DNS answer it depends on already looked up
/// (`SPFExpansion`), so that evaluating it for an address (`evaluate`) is a pure
/// function: the names SPF looks up do not depend on the client address unless the
/// record uses macros, `exists` or `ptr`, which the tree keeps as `unknowable`.
public struct SPFPolicy: Sendable, Equatable {
    public enum Lookup: Sendable, Equatable {
        /// No SPF record (or no such domain).
        case none(String)
        /// More than one `v=spf1` record: receivers return permerror.
        case multiple([String])
        case invalid(String, SPFRecordError)
        /// The lookup failed for now (SERVFAIL, a timeout).
        case temporary(String)
        case record(SPFRecord, terms: [Term], redirect: Redirect?)
    }

    public indirect enum Redirect: Sendable, Equatable {
        case policy(SPFPolicy)
        case unresolved(Term.Resolution)
    }

    public struct Term: Sendable, Equatable {
        public indirect enum Resolution: Sendable, Equatable {
            case all
            /// Networks the address is compared with: `ip4`/`ip6`, or the looked-up
            /// addresses of `a` and `mx` with their prefix lengths.
            case networks([Network])
            case include(SPFPolicy)
            /// Depends on the client or the message (macros, `exists`, `ptr`).
            case unknowable(String)
            /// Past the ten lookups RFC 7208 §4.6.4 allows, or its MX has more than ten
            /// hosts: receivers return permerror when they reach it.
            case overLimit(String)
            /// More than two lookups answered nothing (RFC 7208 §4.6.4): permerror.
            case voidLimit
            case temporary(String)
        }

        public var directive: SPFRecord.Directive
        public var resolution: Resolution
    }

    public struct Network: Sendable, Equatable {
        public var address: IPAddress
        public var prefix: Int

        public init(_ address: IPAddress, prefix: Int) {
            self.address = address
            self.prefix = prefix
        }
    }

    public var domain: String
    public var lookup: Lookup

    public init(domain: String, lookup: Lookup) {
        self.domain = domain
        self.lookup = lookup
    }

    /// The result of RFC 7208's check_host() for a client address.
    public enum Result: Sendable, Equatable {
        /// Matched by `term` (through includes: `include:x > ip4:…`).
        case pass(term: String)
        case fail(term: String)
        case softfail(term: String)
        case neutral(term: String?)
        case none
        case permerror(String)
        case temperror(String)
        /// The answer depends on what this check cannot know (macros, `exists`, `ptr`).
        case cannotTell(String)
    }

    /// Evaluates the policy for `address`, as a receiver would.
    public func evaluate(_ address: IPAddress) -> Result {
        switch lookup {
        case .none: return .none
        case .multiple: return .permerror("\(domain) has more than one v=spf1 record")
        case .invalid(_, let error): return .permerror("\(domain): \(error)")
        case .temporary(let reason): return .temperror(reason)
        case .record(_, let terms, let redirect):
            for term in terms {
                let matched: Bool
                var path = term.directive.text
                switch term.resolution {
                case .all: matched = true
                case .networks(let networks): matched = networks.contains { address.isIn($0.address, prefix: $0.prefix) }
                case .include(let policy):
                    switch policy.evaluate(address) {
                    case .pass(let inner): matched = true; path += " > " + inner
                    case .fail, .softfail, .neutral: matched = false
                    case .none: return .permerror("\(term.directive.text): \(policy.domain) has no SPF record")
                    case .permerror(let reason): return .permerror(reason)
                    case .temperror(let reason): return .temperror(reason)
                    case .cannotTell(let reason): return .cannotTell(reason)
                    }
                case .unknowable(let reason): return .cannotTell(reason)
                case .overLimit(let reason): return .permerror(reason)
                case .voidLimit: return .permerror("more than two lookups answered nothing (RFC 7208 §4.6.4), at \(term.directive.text)")
                case .temporary(let reason): return .temperror(reason)
                }
                guard matched else { continue }
                switch term.directive.qualifier {
                case .pass: return .pass(term: path)
                case .fail: return .fail(term: path)
                case .softfail: return .softfail(term: path)
                case .neutral: return .neutral(term: path)
                }
            }
            switch redirect {
            case nil: return .neutral(term: nil)
            case .unresolved(let resolution)?:
                switch resolution {
                case .overLimit(let reason): return .permerror(reason)
                case .temporary(let reason): return .temperror(reason)
                case .unknowable(let reason): return .cannotTell(reason)
                default: return .permerror("redirect= of \(domain) could not be followed")
                }
            case .policy(let target)?:
                let result = target.evaluate(address)
                if result == .none { return .permerror("redirect=\(target.domain): it has no SPF record") }
                return result
            }
        }
    }

    /// Whether following every branch takes more than the ten lookups receivers allow.
    public var exceedsLookupLimit: Bool {
        guard case .record(_, let terms, let redirect) = lookup else { return false }
        for term in terms {
            switch term.resolution {
            case .overLimit: return true
            case .include(let policy) where policy.exceedsLookupLimit: return true
            default: continue
            }
        }
        switch redirect {
        case .unresolved(.overLimit)?: return true
        case .policy(let target)?: return target.exceedsLookupLimit
        default: return false
        }
    }
}
