import Foundation

/// One site's line of claimed deliveries: taken from the head, in claim order, without
/// moving the rest (an array's `removeFirst` copied the whole line for every message).
struct SiteQueue: Sendable {
    private var items: [ClaimedDelivery] = []
    private var head = 0

    var isEmpty: Bool { head == items.count }
    var first: ClaimedDelivery? { isEmpty ? nil : items[head] }
    var remaining: ArraySlice<ClaimedDelivery> { items[head...] }

    mutating func append(_ delivery: ClaimedDelivery) {
        if head > 0, head == items.count {
            items.removeAll(keepingCapacity: true)
            head = 0
        }
        items.append(delivery)
    }

    mutating func popFirst() -> ClaimedDelivery? {
        guard !isEmpty else { return nil }
        let delivery = items[head]
        head += 1
        if head >= 1024, head * 2 >= items.count {
            items.removeFirst(head)
            head = 0
        }
        return delivery
    }

    mutating func pushFront(_ deliveries: [ClaimedDelivery]) {
        if head >= deliveries.count {
            head -= deliveries.count
            items.replaceSubrange(head..<(head + deliveries.count), with: deliveries)
        } else {
            items.replaceSubrange(0..<head, with: deliveries)
            head = 0
        }
    }
}
