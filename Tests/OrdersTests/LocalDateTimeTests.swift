import Orders
import Testing
