#include "runtime/storage/btree.hpp"

#include <algorithm>
#include <cstring>
#include <utility>

namespace orrery {

namespace {
constexpr std::uint16_t capacity = 32;  // entries per leaf, keys per inner node
constexpr int max_depth = 32;
} // namespace

struct btree::node {
  bool is_leaf;
  std::uint16_t count = 0;  // entries (leaf) or keys (inner)
  explicit node(bool leaf) : is_leaf(leaf) {}
};

// One spare slot lets a node take an entry before it splits. `heads` holds
// each key's first 8 bytes as a big-endian number: searches compare those and
// read a whole key only on a tie, which keeps a search within a few cache lines.
struct btree::leaf : node {
  index_key keys[capacity + 1];
  std::uint64_t heads[capacity + 1];
  row_id rows[capacity + 1];
  leaf* prev = nullptr;
  leaf* next = nullptr;
  leaf() : node(true) {}
};

struct btree::inner : node {
  index_key keys[capacity + 1];
  std::uint64_t heads[capacity + 1];
  node* children[capacity + 2];  // count + 1 of them
  inner() : node(false) {}
};

namespace {

std::uint64_t head_of(const index_key& key) {
  if (key.size() >= 8) {
    std::uint64_t x;
    std::memcpy(&x, key.data(), 8);
    return __builtin_bswap64(x);
  }
  unsigned char b[8] = {};
  std::memcpy(b, key.data(), std::min<std::size_t>(8, key.size()));
  std::uint64_t h = 0;
  for (unsigned char c : b) h = h << 8 | c;
  return h;
}

// First position whose key is >= `key` (lower) or > `key` (upper). Counting
// the smaller heads has no branches to mispredict (the compiler vectorises
// it); only keys whose heads tie are compared in full.
template <bool Upper, class Node>
std::uint16_t search(const Node* n, const index_key& key) {
  std::uint64_t h = head_of(key);
  std::uint16_t pos = 0;
  for (std::uint16_t i = 0; i < n->count; ++i) pos = std::uint16_t(pos + (n->heads[i] < h));
  while (pos < n->count && n->heads[pos] == h && (Upper ? !(key < n->keys[pos]) : n->keys[pos] < key)) ++pos;
  return pos;
}

template <class Node>
std::uint16_t lower(const Node* n, const index_key& key) { return search<false>(n, key); }

template <class Node>
std::uint16_t upper(const Node* n, const index_key& key) { return search<true>(n, key); }

template <class Node>
void set_key(Node* n, std::uint16_t i, index_key key) {
  n->heads[i] = head_of(key);
  n->keys[i] = std::move(key);
}

template <class T>
void shift_right(T* items, std::uint16_t from, std::uint16_t count) {
  for (std::uint16_t i = count; i > from; --i) items[i] = std::move(items[i - 1]);
}

template <class T>
void shift_left(T* items, std::uint16_t from, std::uint16_t count) {
  for (std::uint16_t i = from; i + 1 < count; ++i) items[i] = std::move(items[i + 1]);
}

} // namespace

btree::btree() : root_(new leaf) {}

btree::~btree() { free_node(root_); }

void btree::free_node(node* n) {
  if (n->is_leaf) {
    delete static_cast<leaf*>(n);
    return;
  }
  auto in = static_cast<inner*>(n);
  for (std::uint16_t i = 0; i <= in->count; ++i) free_node(in->children[i]);
  delete in;
}

const btree::leaf* btree::find_leaf(const index_key& key) const {
  const node* n = root_;
  while (!n->is_leaf) {
    auto in = static_cast<const inner*>(n);
    n = in->children[upper(in, key)];
  }
  return static_cast<const leaf*>(n);
}

std::optional<row_id> btree::find(const index_key& key) const {
  const leaf* l = find_leaf(key);
  std::uint16_t pos = lower(l, key);
  if (pos < l->count && l->keys[pos] == key) return l->rows[pos];
  return std::nullopt;
}

btree::leaf* btree::descend(const index_key& key, inner** path, std::uint16_t* slots, int& depth) {
  depth = 0;
  node* n = root_;
  while (!n->is_leaf) {
    auto in = static_cast<inner*>(n);
    path[depth] = in;
    slots[depth] = upper(in, key);
    n = in->children[slots[depth++]];
  }
  return static_cast<leaf*>(n);
}

bool btree::insert(const index_key& key, row_id row) {
  inner* path[max_depth];
  std::uint16_t slots[max_depth];
  int depth = 0;
  leaf* l = descend(key, path, slots, depth);
  std::uint16_t pos = lower(l, key);
  if (pos < l->count && l->keys[pos] == key) return false;
  shift_right(l->keys, pos, l->count);
  shift_right(l->heads, pos, l->count);
  shift_right(l->rows, pos, l->count);
  set_key(l, pos, key);
  l->rows[pos] = row;
  ++l->count;
  ++size_;
  if (l->count <= capacity) return true;

  // Split. Appending at the far right (ascending keys) keeps the left leaf
  // full, so sequential inserts leave full leaves behind.
  bool appending = pos == capacity && l->next == nullptr;
  std::uint16_t keep = appending ? capacity : (capacity + 1) / 2;
  auto right = new leaf;
  for (std::uint16_t i = keep; i < l->count; ++i) {
    right->keys[i - keep] = std::move(l->keys[i]);
    right->heads[i - keep] = l->heads[i];
    right->rows[i - keep] = l->rows[i];
  }
  right->count = std::uint16_t(l->count - keep);
  l->count = keep;
  right->next = l->next;
  right->prev = l;
  if (l->next) l->next->prev = right;
  l->next = right;
  insert_into_parent(path, slots, depth, right->keys[0], right);
  return true;
}

void btree::insert_into_parent(inner** path, std::uint16_t* slots, int depth, index_key separator,
                               node* right) {
  if (depth == 0) {
    auto top = new inner;
    set_key(top, 0, std::move(separator));
    top->children[0] = root_;
    top->children[1] = right;
    top->count = 1;
    root_ = top;
    return;
  }
  inner* parent = path[depth - 1];
  std::uint16_t slot = slots[depth - 1];
  shift_right(parent->keys, slot, parent->count);
  shift_right(parent->heads, slot, parent->count);
  shift_right(parent->children, std::uint16_t(slot + 1), std::uint16_t(parent->count + 1));
  set_key(parent, slot, std::move(separator));
  parent->children[slot + 1] = right;
  ++parent->count;
  if (parent->count <= capacity) return;

  // Split the inner node; its middle key moves up.
  auto sibling = new inner;
  std::uint16_t mid = parent->count / 2;
  index_key up = std::move(parent->keys[mid]);
  for (std::uint16_t i = mid + 1; i < parent->count; ++i) {
    sibling->keys[i - mid - 1] = std::move(parent->keys[i]);
    sibling->heads[i - mid - 1] = parent->heads[i];
  }
  for (std::uint16_t i = mid + 1; i <= parent->count; ++i)
    sibling->children[i - mid - 1] = parent->children[i];
  sibling->count = std::uint16_t(parent->count - mid - 1);
  parent->count = mid;
  insert_into_parent(path, slots, depth - 1, std::move(up), sibling);
}

bool btree::erase(const index_key& key) {
  inner* path[max_depth];
  std::uint16_t slots[max_depth];
  int depth = 0;
  leaf* l = descend(key, path, slots, depth);
  std::uint16_t pos = lower(l, key);
  if (pos >= l->count || !(l->keys[pos] == key)) return false;
  shift_left(l->keys, pos, l->count);
  shift_left(l->heads, pos, l->count);
  shift_left(l->rows, pos, l->count);
  l->keys[l->count - 1] = index_key();
  --l->count;
  --size_;
  if (l->count == 0 && depth > 0) {
    if (l->prev) l->prev->next = l->next;
    if (l->next) l->next->prev = l->prev;
    delete l;
    remove_from_parent(path, slots, depth);
  }
  return true;
}

void btree::remove_from_parent(inner** path, std::uint16_t* slots, int depth) {
  inner* parent = path[depth - 1];
  std::uint16_t slot = slots[depth - 1];
  if (parent->count == 0) {  // its only child is gone: remove the parent itself
    if (depth - 1 == 0) {
      delete parent;
      root_ = new leaf;
      return;
    }
    delete parent;
    remove_from_parent(path, slots, depth - 1);
    return;
  }
  // Child `slot` sits between keys[slot-1] and keys[slot]; drop it and one of them.
  std::uint16_t key_slot = slot == 0 ? 0 : std::uint16_t(slot - 1);
  shift_left(parent->keys, key_slot, parent->count);
  shift_left(parent->heads, key_slot, parent->count);
  parent->keys[parent->count - 1] = index_key();
  shift_left(parent->children, slot, std::uint16_t(parent->count + 1));
  --parent->count;
  // A root with a single child hands the root to it.
  while (root_ == parent && parent->count == 0) {
    root_ = parent->children[0];
    delete parent;
    if (root_->is_leaf) break;
    parent = static_cast<inner*>(root_);
  }
}

btree::cursor btree::lower_bound(const index_key& key) const {
  const leaf* l = find_leaf(key);
  std::uint16_t pos = lower(l, key);
  if (pos == l->count) {
    l = l->next;
    pos = 0;
  }
  return cursor(l, pos);
}

btree::cursor btree::begin() const {
  const node* n = root_;
  while (!n->is_leaf) n = static_cast<const inner*>(n)->children[0];
  auto l = static_cast<const leaf*>(n);
  return cursor(l->count ? l : nullptr, 0);
}

const index_key& btree::cursor::key() const { return leaf_->keys[pos_]; }
row_id btree::cursor::row() const { return leaf_->rows[pos_]; }

void btree::cursor::next() {
  if (++pos_ >= leaf_->count) {
    leaf_ = leaf_->next;
    pos_ = 0;
  }
}

} // namespace orrery
