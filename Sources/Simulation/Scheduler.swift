/// A value kept out of line, so that an enum case carrying it stays one pointer wide.
final class Boxed<Value> {
    let value: Value
    init(_ value: Value) { self.value = value }
}

/// The event queue: ordered by (instant, sequence), so ties in virtual time break on insertion
/// order (as swift-nio's EmbeddedScheduledTask does). A binary heap of plain keys; the payloads
/// wait in slots beside it, so sifting moves 24-octet keys and never copies (or retains) an
/// event. No Dictionary anywhere near it.
struct Scheduler<Payload> {
    struct Entry {
        let time: Int64
        let sequence: UInt64
        let payload: Payload
    }

    /// What the heap orders: trivially copyable.
    private struct Key {
        let time: Int64
        let sequence: UInt64
        let slot: Int

        static func < (a: Key, b: Key) -> Bool { a.time != b.time ? a.time < b.time : a.sequence < b.sequence }
    }

    private var heap: [Key] = []
    private var slots: [Payload?] = []
    /// Slots whose events were popped, reused before the slot array grows (it never shrinks:
    /// it is as long as the most events ever queued at once).
    private var freeSlots: [Int] = []
    private var nextSequence: UInt64 = 0

    var isEmpty: Bool { heap.isEmpty }
    var count: Int { heap.count }

    mutating func schedule(at time: Int64, _ payload: Payload) {
        let slot: Int
        if let reused = freeSlots.popLast() {
            slot = reused
            slots[slot] = payload
        } else {
            slot = slots.count
            slots.append(payload)
        }
        heap.append(Key(time: time, sequence: nextSequence, slot: slot))
        nextSequence += 1
        var i = heap.count - 1
        while i > 0 {
            let parent = (i - 1) / 2
            guard heap[i] < heap[parent] else { break }
            heap.swapAt(i, parent)
            i = parent
        }
    }

    mutating func pop() -> Entry? {
        guard !heap.isEmpty else { return nil }
        heap.swapAt(0, heap.count - 1)
        let top = heap.removeLast()
        var i = 0
        while true {
            let l = 2 * i + 1, r = l + 1
            var m = i
            if l < heap.count, heap[l] < heap[m] { m = l }
            if r < heap.count, heap[r] < heap[m] { m = r }
            if m == i { break }
            heap.swapAt(i, m)
            i = m
        }
        let payload = slots[top.slot].take()!
        freeSlots.append(top.slot)
        return Entry(time: top.time, sequence: top.sequence, payload: payload)
    }
}
