/* Mac models dkvm can impersonate: facts gathered from public sources
 * (board-ids from Apple firmware tables; product/board codes, production
 * years and example serials as documented for macserial). Code lists are
 * truncated to what the arrays hold; the first entry is the one used for
 * generation. */
#include "smbios/smbios.h"

#include <strings.h>

const struct dk_mac_model dk_mac_models[] = {
	{
		.name = "MacPro7,1",
		.board_id = "Mac-27AD2F918AE68F61",
		.base_serial = "F5KZN00HP7QM",
		.model_codes = {"P7QM", "PLXV", "PLXW", "PLXX", "PLXY", "P7QJ", "P7QK", "P7QL", "P7QN", "P7QP",
				"NYGV", "K7GF", "K7GD"},
		.board_codes = {"K3F7"},
		.years = {2019, 2020, 2021, 2022, 2023},
		.preferred_year = 0,
		.macos_min = "catalina",
		.macos_max = "tahoe",
	},
	{
		.name = "MacPro6,1",
		.board_id = "Mac-F60DEB81FF30ACF6",
		.base_serial = "F5KLA770F9VM",
		.model_codes = {"F9VM", "F693", "F694", "F9VN", "FRDW", "FRDY", "FRF0", "FRF1", "FRF2", "FRF3",
				"FRF4", "FRF5", "FRQC", "FT3F", "FT3G"},
		.board_codes = {"FHDD", "FNN1", "FWC3"},
		.years = {2013, 2014, 2015, 2016, 2017, 2018, 2019},
		.preferred_year = 0,
		.macos_min = "mavericks",
		.macos_max = "monterey",
	},
	{
		.name = "MacPro5,1",
		.board_id = "Mac-F221BEC8",
		.base_serial = "CK151076EUH",
		.model_codes = {"EUH", "GWR", "HFC", "HFA", "HFD", "HFF", "HFG", "HFJ", "HFK", "HFL", "HFN", "EUF",
				"HF9", "HF8", "HF7"},
		.board_codes = {"BH8"},
		.years = {2010, 2011, 2012, 2013},
		.preferred_year = 2011,
		.macos_min = "lion",
		.macos_max = "mojave",
	},
	{
		.name = "MacPro4,1",
		.board_id = "Mac-F221BEC8",
		.base_serial = "CT942NZP20H",
		.model_codes = {"20H", "BXD", "7BF", "4PD", "4PC", "8TU", "8TR", "20G", "9MC", "9MD", "9MG", "9MK",
				"9MJ", "9ML", "8XG"},
		.board_codes = {"000"},
		.years = {2009, 2010},
		.preferred_year = 0,
		.macos_min = "lion",
		.macos_max = "elcapitan",
	},
	{
		.name = "MacPro3,1",
		.board_id = "Mac-F42C88C8",
		.base_serial = "W88A77AA5J4",
		.model_codes = {"5J4", "XYK", "XYL", "1Z9", "27K", "1M3", "4R4", "329", "1BJ", "2BS", "14L", "2EE",
				"7AQ", "2DW", "31F"},
		.board_codes = {"000"},
		.years = {2008, 2009},
		.preferred_year = 0,
		.macos_min = "lion",
		.macos_max = "elcapitan",
	},
	{
		.name = "MacPro2,1",
		.board_id = "Mac-F4208DA9",
		.base_serial = "W8930518UPZ",
		.model_codes = {"UPZ"},
		.board_codes = {"000"},
		.years = {2007, 2008},
		.preferred_year = 0,
		.macos_min = "lion",
		.macos_max = "lion",
	},
	{
		.name = "MacPro1,1",
		.board_id = "Mac-F4208DC8",
		.base_serial = "W88A7HACUQ2",
		.model_codes = {"UQ2", "0N2", "08S", "1MK", "0L6", "0L5", "0L3", "0L1", "0L0", "0L8", "0LU", "0LT",
				"0LS", "0LE", "0LD"},
		.board_codes = {"000"},
		.years = {2006, 2007, 2008},
		.preferred_year = 0,
		.macos_min = "lion",
		.macos_max = "lion",
	},
	{
		.name = "iMacPro1,1",
		.board_id = "Mac-7BA5B2D9E42DDD94",
		.base_serial = "C02VV5RFHX87",
		.model_codes = {"HX87", "HX8F", "JL53", "JL54", "JL55", "JLCN", "JLCP", "JLCR", "JLCT", "JLCV",
				"JLCW", "JLCX", "JLCY", "JLD0", "JLD1"},
		.board_codes = {"JG36", "JG3C", "JG3D", "JG38", "JG39", "JML3", "JMPY"},
		.years = {2017, 2018, 2019, 2020, 2021},
		.preferred_year = 0,
		.macos_min = "highsierra",
		.macos_max = "sequoia",
	},
	{
		.name = "iMac20,1",
		.board_id = "Mac-CFF7D910A743CAAF",
		.base_serial = "C02D38RCPN5T",
		.model_codes = {"PN5T", "PN5Y", "PN5X", "PN5W", "PN5V", "PN78", "PN7D", "PN77", "PN7C"},
		.board_codes = {"PHCD"},
		.years = {2020, 2021},
		.preferred_year = 0,
		.macos_min = "catalina",
		.macos_max = "tahoe",
	},
	{
		.name = "iMac19,1",
		.board_id = "Mac-AA95B1DDAB278B95",
		.base_serial = "C02Y90H3JV3Q",
		.model_codes = {"JV3Q", "JV3P", "JV40", "JV41", "JV42", "JV43", "MC9K", "MC9J", "MX7W", "JV3N",
				"JV3T", "JV3W", "JV3R", "JV3Y", "JV3X"},
		.board_codes = {"LNV9", "KDP0", "KDN8"},
		.years = {2019, 2020},
		.preferred_year = 0,
		.macos_min = "mojave",
		.macos_max = "sequoia",
	},
	{
		.name = "Macmini8,1",
		.board_id = "Mac-7BA5B2DFE22DDD8C",
		.base_serial = "C07XL9WEJYVX",
		.model_codes = {"JYVX", "JYVW", "JYVY", "JYW0", "L960", "MCD6", "M7FV", "M7FT", "M99Q", "M99P",
				"MJHL", "MHGQ", "LVVM", "LVVN", "MKTR"},
		.board_codes = {"KXPG", "KXVT", "KXW5", "KXQJ", "KXQW", "KXX7", "KXRY"},
		.years = {2018, 2019, 2020, 2021},
		.preferred_year = 0,
		.macos_min = "mojave",
		.macos_max = "sequoia",
	},
};
const int dk_mac_model_count = sizeof dk_mac_models / sizeof dk_mac_models[0];

const struct dk_mac_model *dk_mac_model_find(const char *name)
{
	if (!name)
		return NULL;
	for (int i = 0; i < dk_mac_model_count; i++)
		if (!strcasecmp(dk_mac_models[i].name, name))
			return &dk_mac_models[i];
	return NULL;
}
