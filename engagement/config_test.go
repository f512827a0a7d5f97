package engagement_test

import (
	"errors"
	"testing"

	"github.com/coaching/intercom_exporter/engagement"
)

func TestConfigValidate_EachProblemNamesItsSetting(t *testing.T) {
	c := engagement.DefaultConfig()
	c.Location = nil
	c.SessionChannels = []string{"Phone", "phone"}
	c.CallChannels = []string{"Fax"}
	c.LookbackDays = 0
	c.AtRiskDays = c.EngagedDays - 1
	c.MemberCoach = "nobody"
	err := c.Validate()
	var got []string
	for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
		var se *engagement.SettingError
		if !errors.As(e, &se) {
			t.Fatalf("%v is not a *SettingError", e)
		}
		got = append(got, se.Setting)
	}
	want := []string{"TIMEZONE", "SESSION_CHANNELS", "CALL_CHANNELS", "LOOKBACK_DAYS", "AT_RISK_DAYS", "MEMBER_COACH"}
	if len(got) != len(want) {
		t.Fatalf("settings %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("problem %d names %s, want %s", i, got[i], want[i])
		}
	}
	if err := engagement.DefaultConfig().Validate(); err != nil {
		t.Errorf("the defaults: %v", err)
	}
}
