package throttle

import "container/list"

// lru is a map of at most max entries that forgets the least recently used
// one to make room, so that keys an attacker invents (addresses, user
// names) cost a bounded amount of memory. Not safe for concurrent use; the
// Login that owns it holds its lock.
type lru[V any] struct {
	max   int
	order *list.List // front: most recently used; values are *lruEntry[V]
	byKey map[string]*list.Element
}

type lruEntry[V any] struct {
	key string
	val V
}

func newLRU[V any](max int) *lru[V] {
	return &lru[V]{max: max, order: list.New(), byKey: make(map[string]*list.Element)}
}

// get returns key's value, making it with mk (and evicting the oldest
// entry when full) if it is not there, and marks it used.
func (c *lru[V]) get(key string, mk func() V) V {
	if el, ok := c.byKey[key]; ok {
		c.order.MoveToFront(el)
		return el.Value.(*lruEntry[V]).val
	}
	if c.order.Len() >= c.max {
		oldest := c.order.Back()
		c.order.Remove(oldest)
		delete(c.byKey, oldest.Value.(*lruEntry[V]).key)
	}
	v := mk()
	c.byKey[key] = c.order.PushFront(&lruEntry[V]{key: key, val: v})
	return v
}

func (c *lru[V]) delete(key string) {
	if el, ok := c.byKey[key]; ok {
		c.order.Remove(el)
		delete(c.byKey, key)
	}
}

func (c *lru[V]) len() int { return c.order.Len() }
