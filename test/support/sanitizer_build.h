#pragma once

namespace ttlogin::test {

// Whether this test (and so the server it starts, built the same way) runs under ASan or TSan.
// A sanitizer's allocator keeps freed memory in a quarantine and maps shadow memory, and its
// runtime slows every allocation and system call several times: memory bounds read from RSS and
// time bounds are checked in the plain builds only, while the sanitizer builds run the same
// traffic for memory errors and races.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
inline constexpr bool kSanitizerBuild = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
inline constexpr bool kSanitizerBuild = true;
#else
inline constexpr bool kSanitizerBuild = false;
#endif
#else
inline constexpr bool kSanitizerBuild = false;
#endif

}  // namespace ttlogin::test
