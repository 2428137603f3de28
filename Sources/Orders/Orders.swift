// Orders
