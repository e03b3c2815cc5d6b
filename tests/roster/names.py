"""Name lists for the district generator (invented, common names)."""

FIRST = """James Mary John Patricia Robert Jennifer Michael Linda William Elizabeth David Barbara Richard
Susan Joseph Jessica Thomas Sarah Charles Karen Christopher Nancy Daniel Lisa Matthew Betty Anthony
Margaret Mark Sandra Donald Ashley Steven Kimberly Paul Emily Andrew Donna Joshua Michelle Kenneth
Dorothy Kevin Carol Brian Amanda George Melissa Timothy Deborah Ronald Stephanie Edward Rebecca Jason
Sharon Jeffrey Laura Ryan Cynthia Jacob Kathleen Gary Amy Nicholas Angela Eric Shirley Jonathan Anna
Stephen Brenda Larry Pamela Justin Emma Scott Nicole Brandon Helen Benjamin Samantha Samuel Katherine
Gregory Christine Alexander Debra Frank Rachel Patrick Carolyn Raymond Janet Jack Catherine Dennis Maria
Jerry Heather Tyler Diane Aaron Ruth Jose Julie Adam Olivia Nathan Joyce Henry Virginia Douglas Victoria
Zachary Kelly Peter Lauren Kyle Christina Ethan Joan Walter Evelyn Noah Judith Jeremy Megan Christian
Andrea Keith Cheryl Roger Hannah Terry Jacqueline Gerald Martha Harold Gloria Sean Teresa Austin Ann
Carl Sara Arthur Madison Lawrence Frances Dylan Kathryn Jesse Janice Jordan Jean Bryan Abigail Billy
Alice Joe Julia Bruce Judy Gabriel Sophia Logan Grace Albert Denise Willie Amber Alan Doris Juan Marilyn
Wayne Danielle Elijah Beverly Randy Isabella Roy Theresa Vincent Diana Ralph Natalie Eugene Brittany
Russell Charlotte Bobby Marie Mason Kayla Philip Alexis Louis Lori Giselle Lari Dasean Camilo Simone
Aaliyah Mateo Priya Wei Aiden Fatima Kenji Amara Liam Mei Omar Leilani Rohan Yusuf Ingrid Tariq""".split()

LAST = """Smith Johnson Williams Brown Jones Garcia Miller Davis Rodriguez Martinez Hernandez Lopez Gonzalez
Wilson Anderson Thomas Taylor Moore Jackson Martin Lee Perez Thompson White Harris Sanchez Clark Ramirez
Lewis Robinson Walker Young Allen King Wright Scott Torres Nguyen Hill Flores Green Adams Nelson Baker
Hall Rivera Campbell Mitchell Carter Roberts Gomez Phillips Evans Turner Diaz Parker Cruz Edwards
Collins Reyes Stewart Morris Morales Murphy Cook Rogers Gutierrez Ortiz Morgan Cooper Peterson Bailey
Reed Kelly Howard Ramos Kim Cox Ward Richardson Watson Brooks Chavez Wood James Bennett Gray Mendoza
Ruiz Hughes Price Alvarez Castillo Sanders Patel Myers Long Ross Foster Jimenez Powell Jenkins Perry
Russell Sullivan Bell Coleman Butler Henderson Barnes Gonzales Fisher Vasquez Simmons Romero Jordan
Patterson Alexander Hamilton Graham Reynolds Griffin Wallace Moreno West Cole Hayes Bryant Herrera Gibson
Ellis Tran Medina Aguilar Stevens Murray Ford Castro Marshall Owens Harrison Fernandez McDonald Woods
Washington Kennedy Wells Vargas Henry Chen Freeman Webb Tucker Guzman Burns Crawford Olson Simpson Porter
Hunter Gordon Mendez Silva Shaw Snyder Mason Dixon Munoz Hunt Hicks Holmes Palmer Wagner Black Robertson
Boyd Rose Stone Salazar Fox Warren Mills Meyer Rice Schmidt Garza Daniels Ferguson Nichols Stephens Soto
Weaver Ryan Gardner Payne Grant Dunn Kelley Spencer Hawkins Arnold Pierce Vazquez Hansen Peters Santos
Hart Bradley Knight Elliott Cunningham Duncan Armstrong Hudson Carroll Lane Riley Andrews Alvarado Ray
Delgado Berry Perkins Hoffman Johnston Matthews Pena Richards Contreras Willis Carpenter Lawrence Sandoval
O'Brien O'Neil D'Angelo Reyes-Garcia""".split()

# names whose natural spelling is not ASCII (NFC here)
FIRST_NA = ["José", "Zoë", "Chloé", "Renée", "André", "Inés", "Joël", "Søren", "Noémie", "Ángel"]
LAST_NA = ["García", "Muñoz", "Peña", "Ibáñez", "Müller", "Lefèvre", "Nuñez", "Hernández"]
SUFFIX = ["Jr.", "Sr.", "III", "II"]

DISTRICTS = ["Lakeview", "Riverside", "Maple Grove", "Cedar Falls", "Fairmont", "Oak Hollow",
             "Brookfield", "Pine Ridge", "Westbrook", "Harbor City"]
SCHOOL_WORDS = ["Lincoln", "Washington", "Jefferson", "Roosevelt", "Franklin", "Madison", "Kennedy",
                "Hamilton", "Adams", "Jackson", "Sunrise", "Hillcrest", "Meadowbrook", "Parkview",
                "Valley", "Lakeside", "Northgate", "Southside", "Eastwood", "Westfield", "Greenfield",
                "Highland", "Riverbend", "Silver Creek", "Oakwood", "Pinecrest", "Bayview", "Summit"]
STREETS = ["Main St", "Oak Ave", "Elm St", "Park Rd", "Lake Dr", "Hill St", "Maple Ave", "Cedar Ln"]
MAIL_DOMAINS = ["gmail.example.com", "mail.example.net", "outlook.example.com", "yahoo.example.org"]
