print("rananeeti")
