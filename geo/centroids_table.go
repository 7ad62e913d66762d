package geo

// centroids maps every ISO 3166-1 alpha-2 country code (and XK, Kosovo, the
// user-assigned code MaxMind databases use) to the latitude and longitude of
// the country's centre and its continent code (AF AN AS EU NA OC SA, as
// GeoIP2 databases give them).
//
// Source: Google's DSPL canonical dataset countries.csv
// (github.com/google/dspl, samples/google/canonical/countries.csv), for every
// code it has; its entries AN (Netherlands Antilles, withdrawn from ISO 3166-1
// in 2011) and GZ (Gaza Strip, not an ISO code) are left out. The codes it
// lacks (AX BL BQ CW MF SS SX UM, marked "Factbook") come from the CIA World
// Factbook's "Geographic coordinates" of each entity (UM: Wake Island).
// Written once from those tables; the coordinates are a country's rough
// centre, good to a few tens of kilometres, which is all ranking regions by
// distance needs. Edit by hand; TestCentroids checks the table.
var centroids = map[string]centroid{
	"AD": {42.546245, 1.601554, "EU"},     // Andorra
	"AE": {23.424076, 53.847818, "AS"},    // United Arab Emirates
	"AF": {33.93911, 67.709953, "AS"},     // Afghanistan
	"AG": {17.060816, -61.796428, "NA"},   // Antigua and Barbuda
	"AI": {18.220554, -63.068615, "NA"},   // Anguilla
	"AL": {41.153332, 20.168331, "EU"},    // Albania
	"AM": {40.069099, 45.038189, "AS"},    // Armenia
	"AO": {-11.202692, 17.873887, "AF"},   // Angola
	"AQ": {-75.250973, -0.071389, "AN"},   // Antarctica
	"AR": {-38.416097, -63.616672, "SA"},  // Argentina
	"AS": {-14.270972, -170.132217, "OC"}, // American Samoa
	"AT": {47.516231, 14.550072, "EU"},    // Austria
	"AU": {-25.274398, 133.775136, "OC"},  // Australia
	"AW": {12.52111, -69.968338, "NA"},    // Aruba
	"AX": {60.25, 20.0, "EU"},             // Åland Islands (Factbook)
	"AZ": {40.143105, 47.576927, "AS"},    // Azerbaijan
	"BA": {43.915886, 17.679076, "EU"},    // Bosnia and Herzegovina
	"BB": {13.193887, -59.543198, "NA"},   // Barbados
	"BD": {23.684994, 90.356331, "AS"},    // Bangladesh
	"BE": {50.503887, 4.469936, "EU"},     // Belgium
	"BF": {12.238333, -1.561593, "AF"},    // Burkina Faso
	"BG": {42.733883, 25.48583, "EU"},     // Bulgaria
	"BH": {25.930414, 50.637772, "AS"},    // Bahrain
	"BI": {-3.373056, 29.918886, "AF"},    // Burundi
	"BJ": {9.30769, 2.315834, "AF"},       // Benin
	"BL": {17.9, -62.833333, "NA"},        // Saint Barthélemy (Factbook)
	"BM": {32.321384, -64.75737, "NA"},    // Bermuda
	"BN": {4.535277, 114.727669, "AS"},    // Brunei
	"BO": {-16.290154, -63.588653, "SA"},  // Bolivia
	"BQ": {12.183333, -68.25, "NA"},       // Bonaire, Sint Eustatius and Saba (Factbook)
	"BR": {-14.235004, -51.92528, "SA"},   // Brazil
	"BS": {25.03428, -77.39628, "NA"},     // Bahamas
	"BT": {27.514162, 90.433601, "AS"},    // Bhutan
	"BV": {-54.423199, 3.413194, "AN"},    // Bouvet Island
	"BW": {-22.328474, 24.684866, "AF"},   // Botswana
	"BY": {53.709807, 27.953389, "EU"},    // Belarus
	"BZ": {17.189877, -88.49765, "NA"},    // Belize
	"CA": {56.130366, -106.346771, "NA"},  // Canada
	"CC": {-12.164165, 96.870956, "AS"},   // Cocos (Keeling) Islands
	"CD": {-4.038333, 21.758664, "AF"},    // Congo (DRC)
	"CF": {6.611111, 20.939444, "AF"},     // Central African Republic
	"CG": {-0.228021, 15.827659, "AF"},    // Congo (Republic)
	"CH": {46.818188, 8.227512, "EU"},     // Switzerland
	"CI": {7.539989, -5.54708, "AF"},      // Côte d'Ivoire
	"CK": {-21.236736, -159.777671, "OC"}, // Cook Islands
	"CL": {-35.675147, -71.542969, "SA"},  // Chile
	"CM": {7.369722, 12.354722, "AF"},     // Cameroon
	"CN": {35.86166, 104.195397, "AS"},    // China
	"CO": {4.570868, -74.297333, "SA"},    // Colombia
	"CR": {9.748917, -83.753428, "NA"},    // Costa Rica
	"CU": {21.521757, -77.781167, "NA"},   // Cuba
	"CV": {16.002082, -24.013197, "AF"},   // Cape Verde
	"CW": {12.166667, -69.0, "NA"},        // Curaçao (Factbook)
	"CX": {-10.447525, 105.690449, "AS"},  // Christmas Island
	"CY": {35.126413, 33.429859, "EU"},    // Cyprus
	"CZ": {49.817492, 15.472962, "EU"},    // Czech Republic
	"DE": {51.165691, 10.451526, "EU"},    // Germany
	"DJ": {11.825138, 42.590275, "AF"},    // Djibouti
	"DK": {56.26392, 9.501785, "EU"},      // Denmark
	"DM": {15.414999, -61.370976, "NA"},   // Dominica
	"DO": {18.735693, -70.162651, "NA"},   // Dominican Republic
	"DZ": {28.033886, 1.659626, "AF"},     // Algeria
	"EC": {-1.831239, -78.183406, "SA"},   // Ecuador
	"EE": {58.595272, 25.013607, "EU"},    // Estonia
	"EG": {26.820553, 30.802498, "AF"},    // Egypt
	"EH": {24.215527, -12.885834, "AF"},   // Western Sahara
	"ER": {15.179384, 39.782334, "AF"},    // Eritrea
	"ES": {40.463667, -3.74922, "EU"},     // Spain
	"ET": {9.145, 40.489673, "AF"},        // Ethiopia
	"FI": {61.92411, 25.748151, "EU"},     // Finland
	"FJ": {-16.578193, 179.414413, "OC"},  // Fiji
	"FK": {-51.796253, -59.523613, "SA"},  // Falkland Islands
	"FM": {7.425554, 150.550812, "OC"},    // Micronesia
	"FO": {61.892635, -6.911806, "EU"},    // Faroe Islands
	"FR": {46.227638, 2.213749, "EU"},     // France
	"GA": {-0.803689, 11.609444, "AF"},    // Gabon
	"GB": {55.378051, -3.435973, "EU"},    // United Kingdom
	"GD": {12.262776, -61.604171, "NA"},   // Grenada
	"GE": {42.315407, 43.356892, "AS"},    // Georgia
	"GF": {3.933889, -53.125782, "SA"},    // French Guiana
	"GG": {49.465691, -2.585278, "EU"},    // Guernsey
	"GH": {7.946527, -1.023194, "AF"},     // Ghana
	"GI": {36.137741, -5.345374, "EU"},    // Gibraltar
	"GL": {71.706936, -42.604303, "NA"},   // Greenland
	"GM": {13.443182, -15.310139, "AF"},   // Gambia
	"GN": {9.945587, -9.696645, "AF"},     // Guinea
	"GP": {16.995971, -62.067641, "NA"},   // Guadeloupe
	"GQ": {1.650801, 10.267895, "AF"},     // Equatorial Guinea
	"GR": {39.074208, 21.824312, "EU"},    // Greece
	"GS": {-54.429579, -36.587909, "AN"},  // South Georgia and the South Sandwich Islands
	"GT": {15.783471, -90.230759, "NA"},   // Guatemala
	"GU": {13.444304, 144.793731, "OC"},   // Guam
	"GW": {11.803749, -15.180413, "AF"},   // Guinea-Bissau
	"GY": {4.860416, -58.93018, "SA"},     // Guyana
	"HK": {22.396428, 114.109497, "AS"},   // Hong Kong
	"HM": {-53.08181, 73.504158, "AN"},    // Heard Island and McDonald Islands
	"HN": {15.199999, -86.241905, "NA"},   // Honduras
	"HR": {45.1, 15.2, "EU"},              // Croatia
	"HT": {18.971187, -72.285215, "NA"},   // Haiti
	"HU": {47.162494, 19.503304, "EU"},    // Hungary
	"ID": {-0.789275, 113.921327, "AS"},   // Indonesia
	"IE": {53.41291, -8.24389, "EU"},      // Ireland
	"IL": {31.046051, 34.851612, "AS"},    // Israel
	"IM": {54.236107, -4.548056, "EU"},    // Isle of Man
	"IN": {20.593684, 78.96288, "AS"},     // India
	"IO": {-6.343194, 71.876519, "AS"},    // British Indian Ocean Territory
	"IQ": {33.223191, 43.679291, "AS"},    // Iraq
	"IR": {32.427908, 53.688046, "AS"},    // Iran
	"IS": {64.963051, -19.020835, "EU"},   // Iceland
	"IT": {41.87194, 12.56738, "EU"},      // Italy
	"JE": {49.214439, -2.13125, "EU"},     // Jersey
	"JM": {18.109581, -77.297508, "NA"},   // Jamaica
	"JO": {30.585164, 36.238414, "AS"},    // Jordan
	"JP": {36.204824, 138.252924, "AS"},   // Japan
	"KE": {-0.023559, 37.906193, "AF"},    // Kenya
	"KG": {41.20438, 74.766098, "AS"},     // Kyrgyzstan
	"KH": {12.565679, 104.990963, "AS"},   // Cambodia
	"KI": {-3.370417, -168.734039, "OC"},  // Kiribati
	"KM": {-11.875001, 43.872219, "AF"},   // Comoros
	"KN": {17.357822, -62.782998, "NA"},   // Saint Kitts and Nevis
	"KP": {40.339852, 127.510093, "AS"},   // North Korea
	"KR": {35.907757, 127.766922, "AS"},   // South Korea
	"KW": {29.31166, 47.481766, "AS"},     // Kuwait
	"KY": {19.513469, -80.566956, "NA"},   // Cayman Islands
	"KZ": {48.019573, 66.923684, "AS"},    // Kazakhstan
	"LA": {19.85627, 102.495496, "AS"},    // Laos
	"LB": {33.854721, 35.862285, "AS"},    // Lebanon
	"LC": {13.909444, -60.978893, "NA"},   // Saint Lucia
	"LI": {47.166, 9.555373, "EU"},        // Liechtenstein
	"LK": {7.873054, 80.771797, "AS"},     // Sri Lanka
	"LR": {6.428055, -9.429499, "AF"},     // Liberia
	"LS": {-29.609988, 28.233608, "AF"},   // Lesotho
	"LT": {55.169438, 23.881275, "EU"},    // Lithuania
	"LU": {49.815273, 6.129583, "EU"},     // Luxembourg
	"LV": {56.879635, 24.603189, "EU"},    // Latvia
	"LY": {26.3351, 17.228331, "AF"},      // Libya
	"MA": {31.791702, -7.09262, "AF"},     // Morocco
	"MC": {43.750298, 7.412841, "EU"},     // Monaco
	"MD": {47.411631, 28.369885, "EU"},    // Moldova
	"ME": {42.708678, 19.37439, "EU"},     // Montenegro
	"MF": {18.083333, -63.95, "NA"},       // Saint Martin (Factbook)
	"MG": {-18.766947, 46.869107, "AF"},   // Madagascar
	"MH": {7.131474, 171.184478, "OC"},    // Marshall Islands
	"MK": {41.608635, 21.745275, "EU"},    // North Macedonia
	"ML": {17.570692, -3.996166, "AF"},    // Mali
	"MM": {21.913965, 95.956223, "AS"},    // Myanmar
	"MN": {46.862496, 103.846656, "AS"},   // Mongolia
	"MO": {22.198745, 113.543873, "AS"},   // Macao
	"MP": {17.33083, 145.38469, "OC"},     // Northern Mariana Islands
	"MQ": {14.641528, -61.024174, "NA"},   // Martinique
	"MR": {21.00789, -10.940835, "AF"},    // Mauritania
	"MS": {16.742498, -62.187366, "NA"},   // Montserrat
	"MT": {35.937496, 14.375416, "EU"},    // Malta
	"MU": {-20.348404, 57.552152, "AF"},   // Mauritius
	"MV": {3.202778, 73.22068, "AS"},      // Maldives
	"MW": {-13.254308, 34.301525, "AF"},   // Malawi
	"MX": {23.634501, -102.552784, "NA"},  // Mexico
	"MY": {4.210484, 101.975766, "AS"},    // Malaysia
	"MZ": {-18.665695, 35.529562, "AF"},   // Mozambique
	"NA": {-22.95764, 18.49041, "AF"},     // Namibia
	"NC": {-20.904305, 165.618042, "OC"},  // New Caledonia
	"NE": {17.607789, 8.081666, "AF"},     // Niger
	"NF": {-29.040835, 167.954712, "OC"},  // Norfolk Island
	"NG": {9.081999, 8.675277, "AF"},      // Nigeria
	"NI": {12.865416, -85.207229, "NA"},   // Nicaragua
	"NL": {52.132633, 5.291266, "EU"},     // Netherlands
	"NO": {60.472024, 8.468946, "EU"},     // Norway
	"NP": {28.394857, 84.124008, "AS"},    // Nepal
	"NR": {-0.522778, 166.931503, "OC"},   // Nauru
	"NU": {-19.054445, -169.867233, "OC"}, // Niue
	"NZ": {-40.900557, 174.885971, "OC"},  // New Zealand
	"OM": {21.512583, 55.923255, "AS"},    // Oman
	"PA": {8.537981, -80.782127, "NA"},    // Panama
	"PE": {-9.189967, -75.015152, "SA"},   // Peru
	"PF": {-17.679742, -149.406843, "OC"}, // French Polynesia
	"PG": {-6.314993, 143.95555, "OC"},    // Papua New Guinea
	"PH": {12.879721, 121.774017, "AS"},   // Philippines
	"PK": {30.375321, 69.345116, "AS"},    // Pakistan
	"PL": {51.919438, 19.145136, "EU"},    // Poland
	"PM": {46.941936, -56.27111, "NA"},    // Saint Pierre and Miquelon
	"PN": {-24.703615, -127.439308, "OC"}, // Pitcairn Islands
	"PR": {18.220833, -66.590149, "NA"},   // Puerto Rico
	"PS": {31.952162, 35.233154, "AS"},    // Palestine
	"PT": {39.399872, -8.224454, "EU"},    // Portugal
	"PW": {7.51498, 134.58252, "OC"},      // Palau
	"PY": {-23.442503, -58.443832, "SA"},  // Paraguay
	"QA": {25.354826, 51.183884, "AS"},    // Qatar
	"RE": {-21.115141, 55.536384, "AF"},   // Réunion
	"RO": {45.943161, 24.96676, "EU"},     // Romania
	"RS": {44.016521, 21.005859, "EU"},    // Serbia
	"RU": {61.52401, 105.318756, "EU"},    // Russia
	"RW": {-1.940278, 29.873888, "AF"},    // Rwanda
	"SA": {23.885942, 45.079162, "AS"},    // Saudi Arabia
	"SB": {-9.64571, 160.156194, "OC"},    // Solomon Islands
	"SC": {-4.679574, 55.491977, "AF"},    // Seychelles
	"SD": {12.862807, 30.217636, "AF"},    // Sudan
	"SE": {60.128161, 18.643501, "EU"},    // Sweden
	"SG": {1.352083, 103.819836, "AS"},    // Singapore
	"SH": {-24.143474, -10.030696, "AF"},  // Saint Helena
	"SI": {46.151241, 14.995463, "EU"},    // Slovenia
	"SJ": {77.553604, 23.670272, "EU"},    // Svalbard and Jan Mayen
	"SK": {48.669026, 19.699024, "EU"},    // Slovakia
	"SL": {8.460555, -11.779889, "AF"},    // Sierra Leone
	"SM": {43.94236, 12.457777, "EU"},     // San Marino
	"SN": {14.497401, -14.452362, "AF"},   // Senegal
	"SO": {5.152149, 46.199616, "AF"},     // Somalia
	"SR": {3.919305, -56.027783, "SA"},    // Suriname
	"SS": {8.0, 30.0, "AF"},               // South Sudan (Factbook)
	"ST": {0.18636, 6.613081, "AF"},       // São Tomé and Príncipe
	"SV": {13.794185, -88.89653, "NA"},    // El Salvador
	"SX": {18.066667, -63.066667, "NA"},   // Sint Maarten (Factbook)
	"SY": {34.802075, 38.996815, "AS"},    // Syria
	"SZ": {-26.522503, 31.465866, "AF"},   // Eswatini
	"TC": {21.694025, -71.797928, "NA"},   // Turks and Caicos Islands
	"TD": {15.454166, 18.732207, "AF"},    // Chad
	"TF": {-49.280366, 69.348557, "AN"},   // French Southern Territories
	"TG": {8.619543, 0.824782, "AF"},      // Togo
	"TH": {15.870032, 100.992541, "AS"},   // Thailand
	"TJ": {38.861034, 71.276093, "AS"},    // Tajikistan
	"TK": {-8.967363, -171.855881, "OC"},  // Tokelau
	"TL": {-8.874217, 125.727539, "AS"},   // Timor-Leste
	"TM": {38.969719, 59.556278, "AS"},    // Turkmenistan
	"TN": {33.886917, 9.537499, "AF"},     // Tunisia
	"TO": {-21.178986, -175.198242, "OC"}, // Tonga
	"TR": {38.963745, 35.243322, "AS"},    // Turkey
	"TT": {10.691803, -61.222503, "NA"},   // Trinidad and Tobago
	"TV": {-7.109535, 177.64933, "OC"},    // Tuvalu
	"TW": {23.69781, 120.960515, "AS"},    // Taiwan
	"TZ": {-6.369028, 34.888822, "AF"},    // Tanzania
	"UA": {48.379433, 31.16558, "EU"},     // Ukraine
	"UG": {1.373333, 32.290275, "AF"},     // Uganda
	"UM": {19.283333, 166.6, "OC"},        // U.S. Minor Outlying Islands (Factbook)
	"US": {37.09024, -95.712891, "NA"},    // United States
	"UY": {-32.522779, -55.765835, "SA"},  // Uruguay
	"UZ": {41.377491, 64.585262, "AS"},    // Uzbekistan
	"VA": {41.902916, 12.453389, "EU"},    // Vatican City
	"VC": {12.984305, -61.287228, "NA"},   // Saint Vincent and the Grenadines
	"VE": {6.42375, -66.58973, "SA"},      // Venezuela
	"VG": {18.420695, -64.639968, "NA"},   // British Virgin Islands
	"VI": {18.335765, -64.896335, "NA"},   // U.S. Virgin Islands
	"VN": {14.058324, 108.277199, "AS"},   // Vietnam
	"VU": {-15.376706, 166.959158, "OC"},  // Vanuatu
	"WF": {-13.768752, -177.156097, "OC"}, // Wallis and Futuna
	"WS": {-13.759029, -172.104629, "OC"}, // Samoa
	"XK": {42.602636, 20.902977, "EU"},    // Kosovo
	"YE": {15.552727, 48.516388, "AS"},    // Yemen
	"YT": {-12.8275, 45.166244, "AF"},     // Mayotte
	"ZA": {-30.559482, 22.937506, "AF"},   // South Africa
	"ZM": {-13.133897, 27.849332, "AF"},   // Zambia
	"ZW": {-19.015438, 29.154857, "AF"},   // Zimbabwe
}
