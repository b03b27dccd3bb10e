"use strict";
// A subscriber's loss accounting on its own, as docs/protocol.md has it:
// a jump from n to n+k is k-1 lost; a new publisher id and a sequence
// going back are not loss.

const test = require("node:test");
const assert = require("node:assert");
const d = require("../src");

test("gaps per (publisher, type) are counted, and only gaps", () => {
  const losses = [];
  const sub = new d.Subscriber("tcp://127.0.0.1:1", { onLoss: (l) => losses.push(l), logger: null });
  try {
    const see = (pub, name, seq) => sub.track(name, { publisher: pub, sequence: seq });
    see("p1", "A", 1);
    see("p1", "A", 2);
    see("p1", "B", 1); // a type of its own: no gap with A's
    see("p1", "A", 5); // 3 and 4 lost
    see("p2", "A", 9); // first heard: a new sequence, no loss
    see("p1", "A", 2); // backwards: a restart or reorder, no loss
    see("p1", "A", 4); // from 2: 3 lost
    see("p1", "B", 2);
    assert.strictEqual(sub.stats.lost, 3);
    assert.deepStrictEqual(sub.lostByPublisher(), { p1: 3 });
    assert.deepStrictEqual(losses.map((l) => [l.publisher, l.name, l.lost, l.from, l.to]), [["p1", "A", 2, 2, 5], ["p1", "A", 1, 2, 4]]);
    // A v1 envelope (no header) counts nothing.
    sub.track("A", null);
    assert.strictEqual(sub.stats.lost, 3);
  } finally {
    sub.close();
  }
});
