package zmtp

import "slices"

// subscriptions is one peer's topics as a publisher filters by them:
// byte prefixes, counted (a topic subscribed twice needs two cancels, as
// in libzmq), bounded in number and bytes.
//
// A message matches when one of the topics is a prefix of its first
// frame. The set keeps the distinct topic lengths, so that a match costs
// one map lookup per length, not one per topic.
type subscriptions struct {
	topics  map[string]int
	lengths []int // distinct lengths of the topics, ascending
	bytes   int
}

// add subscribes topic; it reports whether the topic is new to the set,
// and false for ok when the bounds refuse it.
func (s *subscriptions) add(topic []byte, maxN, maxBytes int) (isNew, ok bool) {
	if s.topics == nil {
		s.topics = make(map[string]int)
	}
	if n, there := s.topics[string(topic)]; there {
		s.topics[string(topic)] = n + 1
		return false, true
	}
	if len(s.topics)+1 > limit(maxN) || s.bytes+len(topic) > limit(maxBytes) {
		return false, false
	}
	s.topics[string(topic)] = 1
	s.bytes += len(topic)
	if i, found := slices.BinarySearch(s.lengths, len(topic)); !found {
		s.lengths = slices.Insert(s.lengths, i, len(topic))
	}
	return true, true
}

// remove cancels one subscription of topic; it reports whether the topic
// is gone from the set.
func (s *subscriptions) remove(topic []byte) (gone bool) {
	n, there := s.topics[string(topic)]
	if !there {
		return false
	}
	if n > 1 {
		s.topics[string(topic)] = n - 1
		return false
	}
	delete(s.topics, string(topic))
	s.bytes -= len(topic)
	for t := range s.topics {
		if len(t) == len(topic) {
			return true
		}
	}
	if i, found := slices.BinarySearch(s.lengths, len(topic)); found {
		s.lengths = slices.Delete(s.lengths, i, i+1)
	}
	return true
}

func (s *subscriptions) match(first []byte) bool {
	for _, l := range s.lengths {
		if l > len(first) {
			return false
		}
		if _, ok := s.topics[string(first[:l])]; ok {
			return true
		}
	}
	return false
}

func (s *subscriptions) len() int { return len(s.topics) }

func (s *subscriptions) clear() {
	clear(s.topics)
	s.lengths = s.lengths[:0]
	s.bytes = 0
}

// each calls f for every topic, once however often it was subscribed.
func (s *subscriptions) each(f func(topic string)) {
	for t := range s.topics {
		f(t)
	}
}
