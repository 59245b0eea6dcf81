-- Extension numbers and the devices (PJSIP endpoints of pjsip.d/endpoints.conf) they
-- ring; mounted over the image's /etc/asterisk/devices.lua (ConfigMap asterisk-dialplan).
return {
	["1000"] = "phone-3f9a1c2e",
	["1001"] = "phone-b7d40e19",
}
