-- The dialplan (pbx_lua). extensions.conf is intentionally empty: this file is it.
--
-- Authenticated PJSIP endpoints (see pjsip.conf: template endpoint-defaults) land in
-- the context "from-internal". Nothing here is reachable without authentication.
--
--   600        echo test: what you say comes back
--   601        milliwatt test tone (1004 Hz)
--   602        plays "hello world"
--   603        DTMF test: press one digit; 1 = echo, 2 = tone, 3 = hello world,
--              any other digit is read back; the digit is logged as "DTMF test: digit N"
--   604        music on hold for 30 seconds
--   605        a small IVR: 1 = echo test, 2 = hello world, 3 = music on hold,
--              4 = conference room 610, 9 = your voicemail
--   610        conference room (ConfBridge)
--   700        call parking: blind-transfer a call to 700, pick it up at 701-720
--   1000-1999  calls the device of that extension (devices.lua); voicemail when busy or
--              unanswered (if voicemail.conf has a mailbox of that number)
--   *97        your own voicemail (the mailbox of your device's extension)
--   *98        any mailbox (asks for mailbox and PIN)
--
-- Reference: https://docs.asterisk.org/Configuration/Dialplan/Lua-Dialplan-Configuration/

local VOICEMAIL_CONTEXT = "default"
local DEVICES_FILE = "/etc/asterisk/devices.lua"

-- Extension number -> device name, from devices.lua. pbx_lua runs this file for every
-- call, so an edit of devices.lua counts at once; an error in it fails every call (and
-- `module reload pbx_lua`) with the line named in the log. No file: no devices.
local function load_devices()
	local chunk, err = loadfile(DEVICES_FILE)
	if not chunk then
		local file = io.open(DEVICES_FILE)
		if not file then
			return {}
		end
		file:close()
		error(err)
	end
	local devices = chunk()
	assert(type(devices) == "table", DEVICES_FILE .. " must return a table")
	return devices
end

local devices = load_devices()

local function extension_of(device)
	for exten, name in pairs(devices) do
		if name == device then
			return exten
		end
	end
end

local function answer()
	app.answer()
	app.wait("0.5")
end

local function echo_test()
	answer()
	app.echo()
end

local function milliwatt()
	answer()
	app.milliwatt()
end

local function hello_world()
	answer()
	app.playback("hello-world")
	app.hangup()
end

local function music_on_hold()
	answer()
	app.musiconhold("default", 30)
	app.hangup()
end

local function conference_room(context, exten)
	answer()
	app.confbridge(exten)
end

local function has_mailbox(mailbox)
	return channel["VM_INFO(" .. mailbox .. "@" .. VOICEMAIL_CONTEXT .. ",exists)"]:get() == "1"
end

local function my_voicemail()
	answer()
	local device = channel["CHANNEL(endpoint)"]:get()
	local mailbox = extension_of(device)
	if mailbox then
		app.voicemailmain(mailbox .. "@" .. VOICEMAIL_CONTEXT)
	else
		app.verbose(0, "Voicemail: device " .. device .. " has no extension in devices.lua")
		app.playback("vm-nobox")
	end
	app.hangup()
end

local function any_voicemail()
	answer()
	app.voicemailmain("@" .. VOICEMAIL_CONTEXT)
	app.hangup()
end

-- One digit, then a branch per digit. Read() collects RFC 4733 (and in-band) DTMF.
local function dtmf_test()
	answer()
	app.read("DIGIT", "beep", 1, "", 1, 10)
	local digit = channel.DIGIT:get() or ""
	app.verbose(0, "DTMF test: digit " .. (digit ~= "" and digit or "none"))
	if digit == "1" then
		app.echo()
	elseif digit == "2" then
		app.milliwatt()
	elseif digit == "3" then
		app.playback("hello-world")
	elseif digit ~= "" then
		app.saydigits(digit)
	else
		app.playback("vm-goodbye")
	end
	app.hangup()
end

-- A small IVR: replace the "beep" prompt with your own recording of the menu.
local function ivr()
	answer()
	for _ = 1, 3 do
		app.read("CHOICE", "beep", 1, "", 1, 5)
		local choice = channel.CHOICE:get() or ""
		app.verbose(0, "IVR: choice " .. (choice ~= "" and choice or "none"))
		if choice == "1" then
			app.playback("demo-echotest")
			app.echo()
			break
		elseif choice == "2" then
			app.playback("hello-world")
			break
		elseif choice == "3" then
			app.musiconhold("default", 30)
			break
		elseif choice == "4" then
			app.confbridge("610")
			break
		elseif choice == "9" then
			my_voicemail()
			break
		elseif choice ~= "" then
			app.playback("pm-invalid-option")
		end
	end
	app.hangup()
end

-- Calls the device of an extension; voicemail when it does not answer.
local function call_extension(context, exten)
	local device = devices[exten]
	if not device then
		app.verbose(0, "Extension " .. exten .. " has no device in devices.lua")
		app.playback("ss-noservice")
		app.hangup()
		return
	end
	app.dial("PJSIP/" .. device, 30)
	local status = channel.DIALSTATUS:get()
	if (status == "BUSY" or status == "NOANSWER" or status == "CHANUNAVAIL")
			and has_mailbox(exten) then
		app.voicemail(exten .. "@" .. VOICEMAIL_CONTEXT, status == "BUSY" and "b" or "u")
	end
	app.hangup()
end

extensions = {
	["from-internal"] = {
		-- call parking (res_parking.conf): blind-transfer to 700, pick up at 701-720
		include = { "parkedcalls" },
		["600"] = echo_test,
		["601"] = milliwatt,
		["602"] = hello_world,
		["603"] = dtmf_test,
		["604"] = music_on_hold,
		["605"] = ivr,
		["610"] = conference_room,
		["_1XXX"] = call_extension,
		["*97"] = my_voicemail,
		["*98"] = any_voicemail,
	},
}
