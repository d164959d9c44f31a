"""Calendar interop: the .ics feed and its tokens, and the .ics import (scan, plan, apply)."""
