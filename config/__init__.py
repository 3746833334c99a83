"""Settings types and loading: the base every layer may import (it imports nothing of ours)."""
