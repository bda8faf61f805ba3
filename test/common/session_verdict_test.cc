#include "common/session_verdict.h"

#include <gtest/gtest.h>

#include <set>
#include <string>

namespace ttlogin::common {
namespace {

// Every reason names its own metrics series; a reason added without a label would be counted
// under "unknown" and merged with the next one.
TEST(SessionVerdictTest, EveryReasonHasItsOwnLabelAndAText) {
  std::set<std::string_view> labels;
  for (std::size_t i = 0; i < static_cast<std::size_t>(CloseReason::kCount); ++i) {
    const auto r = static_cast<CloseReason>(i);
    const std::string_view label = CloseReasonName(r);
    EXPECT_NE(label, "unknown") << i;
    EXPECT_NE(CloseReasonText(r), "unknown") << i;
    EXPECT_TRUE(labels.insert(label).second) << label;
    for (const char c : label)
      EXPECT_TRUE((c >= 'a' && c <= 'z') || c == '_') << label;
  }
  EXPECT_EQ(CloseReasonName(CloseReason::kCount), "unknown");
}

TEST(SessionVerdictTest, TheThreeShapes) {
  const SessionVerdict go_on = SessionVerdict::Continue();
  EXPECT_FALSE(go_on.closes());
  EXPECT_EQ(go_on.reason, CloseReason::kNone);
  EXPECT_TRUE(go_on.detail.empty());

  const SessionVerdict answered = SessionVerdict::ReplyThenClose(CloseReason::kAnswered);
  EXPECT_TRUE(answered.closes());
  EXPECT_EQ(answered.action, SessionVerdict::Action::kReplyThenClose);
  EXPECT_EQ(answered.reason, CloseReason::kAnswered);

  const SessionVerdict broken =
      SessionVerdict::Close(CloseReason::kPduLengthAboveMax, "PDU length 70000");
  EXPECT_TRUE(broken.closes());
  EXPECT_EQ(broken.action, SessionVerdict::Action::kClose);
  EXPECT_EQ(broken.detail, "PDU length 70000");
}

// The texts that close log lines have always carried ("msg_server ... removed (protocol error)").
TEST(SessionVerdictTest, PduCloseTextsAreTheClassicOnes) {
  EXPECT_EQ(CloseReasonText(CloseReason::kPduLengthBelowHeader), "protocol error");
  EXPECT_EQ(CloseReasonText(CloseReason::kPduLengthAboveMax), "protocol error");
  EXPECT_EQ(CloseReasonText(CloseReason::kBadUserCntUpdate), "bad IMUserCntUpdate");
  EXPECT_EQ(CloseReasonText(CloseReason::kEntryTakenOver), "entry taken over");
  EXPECT_EQ(CloseReasonText(CloseReason::kHostPortTaken), "host_name:port taken");
}

}  // namespace
}  // namespace ttlogin::common
