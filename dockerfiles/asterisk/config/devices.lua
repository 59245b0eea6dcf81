-- Extension numbers and the devices (PJSIP endpoints) they ring; read by extensions.lua
-- at every call (an edit counts at once; `module reload pbx_lua` reports an error in it).
--
-- Devices are named for what they are, not by their extension number (Asterisk's "Proper
-- Device Naming"): a scanner guessing "1001" finds no device, and a phone can change
-- hands without renaming anything. An extension's voicemail box has its number (1001 in
-- voicemail.conf [default]), and a device calling *97 reaches the box of its extension.
--
-- One line per extension, e.g.
--   ["1001"] = "phone-5e0c71a2",
-- Extension numbers are 1000-1999 (the pattern _1XXX in extensions.lua).
return {
}
