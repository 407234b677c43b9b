package rooms

import "errors"

// Errors returned by the adapter. They are returned as is (not wrapped), so a
// caller may compare with == as well as errors.Is.
var (
	// ErrDuplicateMember is returned by Add when a member with the same id
	// is already registered.
	ErrDuplicateMember = errors.New("rooms: duplicate member id")

	// ErrUnknownMember is returned by Join and Leave for an id that is not
	// registered (never added, or already removed).
	ErrUnknownMember = errors.New("rooms: unknown member")

	// ErrTooManyRooms is returned by Join when joining the requested rooms
	// would put the member in more than Config.MaxRoomsPerMember rooms
	// besides its own. Nothing is joined.
	ErrTooManyRooms = errors.New("rooms: too many rooms for member")

	// ErrRoomFull is returned by Join when a room to join holds
	// Config.MaxMembersPerRoom members already. Nothing is joined.
	ErrRoomFull = errors.New("rooms: room full")

	// ErrOwnRoom is returned by Leave when asked to leave the member's own
	// room (the room named by its id). Nothing is left. Only Remove leaves it.
	ErrOwnRoom = errors.New("rooms: cannot leave own room")

	// ErrInvalidConfig is wrapped by NewLocal's errors for an invalid Config.
	ErrInvalidConfig = errors.New("rooms: invalid config")
)
