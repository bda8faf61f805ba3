// The choice of a msg_server for a login, over the registry's shards.
//
// Why these algorithms (measurements in docs/ROUTING.md):
//  - least_count and least_ratio take the entry with the smallest load key (load_key.h). Each
//    shard publishes its minimum key in an atomic word; the choice reads the words without locks
//    (a fixed number, independent of how many msg_servers exist), then locks the one shard that
//    holds the minimum and takes its heap's top. Cost: O(shards), never O(msg_servers).
//  - p2c draws two eligible entries uniformly and takes the less loaded (Mitzenmacher, "The Power
//    of Two Choices in Randomized Load Balancing", 2001): with several login servers, or counts
//    that reach this one late, always taking the single minimum sends every login of a burst to
//    one msg_server; two random choices keep the maximum load within O(log log n) of the mean.
//    Cost: two shard locks and two random slots per choice.
//  - Slow start: an entry inside its window (the shard's second heap) that would win is taken
//    only with a chance growing linearly from SlowStartMinPercent to 1 over the window, so its
//    share of new logins ramps up instead of it taking every login until it catches up.
//  - Assignment holds: a login handed out may count as a provisional user of the chosen entry
//    (RegistryShard::Hold), so a burst between two count updates spreads out.
#pragma once

#include <cstddef>
#include <span>

#include "server/registry/registry_shard.h"
#include "server/registry/registry_types.h"

namespace ttlogin::registry {

// least_count and least_ratio: an entry with the smallest key over all shards (ties: any tied
// entry). `slow_start` says whether any shard may hold warming entries. False when none is
// eligible.
bool ChooseLeastKey(std::span<RegistryShard> shards, bool slow_start, const Clock& clock,
                    bool assign, Choice& choice);

// p2c: the less loaded of two eligible entries drawn uniformly (ties: the first drawn). Falls
// back to ChooseLeastKey when the draws keep racing with updates. False when none is eligible.
bool ChooseP2c(std::span<RegistryShard> shards, bool slow_start, const Clock& clock, bool assign,
               Choice& choice);

// Lists up to `extra` (at most kMaxExtraCandidates) more eligible entries in choice.candidates,
// smallest key first, without the chosen one.
void ListCandidates(std::span<const RegistryShard> shards, std::size_t extra, Choice& choice);

// Whether some shard publishes an eligible entry (no lock, no side effect).
bool AnyEligible(std::span<const RegistryShard> shards);

}  // namespace ttlogin::registry
