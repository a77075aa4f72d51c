// Open-addressing hash map from id to code, with linear probing in a
// power-of-two table kept at most half full.
#include "io/id_map.hpp"

#include <limits>
#include <stdexcept>
#include <string>

namespace pyanimf::io {
namespace {

constexpr std::size_t kInitialSlots = 1024;
constexpr std::size_t kMaxUniqueIds = static_cast<std::size_t>(std::numeric_limits<std::int32_t>::max());

// Finalizer of the splitmix64 generator (Steele, Lea and Flood, 2014): every
// input bit affects every output bit, so sequential ids spread over the table.
inline std::uint64_t mix64(std::uint64_t x) {
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    x ^= x >> 31;
    return x;
}

struct Slot {
    std::int64_t id;
    std::int32_t code;  // -1 marks an empty slot
};

class IdTable {
public:
    IdTable() : slots_(kInitialSlots, Slot{0, -1}), mask_(kInitialSlots - 1) {}

    // Return the code of `id`, adding it with code `next_code` if it is new.
    std::int32_t find_or_insert(std::int64_t id, std::int32_t next_code) {
        std::size_t index = mix64(static_cast<std::uint64_t>(id)) & mask_;
        for (;;) {
            Slot& slot = slots_[index];
            if (slot.code < 0) {
                slot = Slot{id, next_code};
                if (++size_ * 2 > slots_.size()) grow();
                return next_code;
            }
            if (slot.id == id) return slot.code;
            index = (index + 1) & mask_;
        }
    }

private:
    void grow() {
        std::vector<Slot> old(slots_.size() * 2, Slot{0, -1});
        old.swap(slots_);
        mask_ = slots_.size() - 1;
        for (const Slot& slot : old) {
            if (slot.code < 0) continue;
            std::size_t index = mix64(static_cast<std::uint64_t>(slot.id)) & mask_;
            while (slots_[index].code >= 0) index = (index + 1) & mask_;
            slots_[index] = slot;
        }
    }

    std::vector<Slot> slots_;
    std::size_t mask_;
    std::size_t size_ = 0;
};

}  // namespace

IdMapping map_ids(const std::int64_t* ids, std::size_t count) {
    IdMapping result;
    result.codes.resize(count);
    IdTable table;
    // Ratings files are often sorted by user, so an id usually repeats the
    // one before it; the check skips the hash lookup for those.
    std::int64_t previous_id = 0;
    std::int32_t previous_code = -1;
    for (std::size_t i = 0; i < count; ++i) {
        const std::int64_t id = ids[i];
        if (previous_code < 0 || id != previous_id) {
            const auto next_code = static_cast<std::int32_t>(result.uniques.size());
            previous_code = table.find_or_insert(id, next_code);
            previous_id = id;
            if (previous_code == next_code) {
                // NOTE: no test reaches this limit, because it needs 2^31 distinct ids.
                if (result.uniques.size() == kMaxUniqueIds) {
                    throw std::length_error("more than " + std::to_string(kMaxUniqueIds) +
                                            " distinct ids; codes are 32-bit, so split the data");
                }
                result.uniques.push_back(id);
            }
        }
        result.codes[i] = previous_code;
    }
    return result;
}

}  // namespace pyanimf::io
